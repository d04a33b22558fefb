"""`make bench` writes the measured table: every row with its size, figure, load and JSON line."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]


def _table() -> Any:
    spec = importlib.util.spec_from_file_location("bench_table", REPO / "benchmarks" / "table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_table"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_table_says_which_ran_quick_the_load_and_a_failure() -> None:
    table = _table()
    rows = [
        {
            "name": "parse",
            "args": "(full size)",
            "quick": False,
            "wall_s": 61.2,
            "load_before": "3.0 / 2.0 / 1.0",
            "load_after": "4.0 / 2.5 / 1.2",
            "result": {"benchmark": "parse", "ratio": 2.5},
        },
        {
            "name": "drift",
            "args": "--quick",
            "quick": True,
            "wall_s": 20.0,
            "load_before": "1.0 / 1.0 / 1.0",
            "load_after": "1.0 / 1.0 / 1.0",
            "result": {"benchmark": "drift", "ratio": 9.1},
        },
        {
            "name": "run_cost",
            "args": "(full size)",
            "quick": False,
            "wall_s": 900.0,
            "load_before": "1.0 / 1.0 / 1.0",
            "load_after": "1.0 / 1.0 / 1.0",
            "result": None,
            "error": "exit 1; last output: `airflow backfill create` exited 1",
        },
    ]
    for row in rows:
        row["started"] = "2026-12-07 22:00 UTC"
    text = table.table(table.merged(rows[1:], rows[:1]))
    assert (
        "| `parse.py (full size)` | 1000 configs (2001 DAGs, 15,001 tasks) per side | ratio 2.5 | "
        "2026-12-07 22:00 UTC | 61 s | " in text
    )
    assert "3.0 / 2.0 / 1.0 -> 4.0 / 2.5 / 1.2 |" in text
    assert "| `drift.py --quick` | 20k + 20k rows x 10 columns (`--quick`) | ratio 9.1 |" in text
    assert "- `drift`: full size (1M + 1M rows x 50 columns)" in text
    assert "| **failed** (see below) |" in text
    assert "exit 1; last output: `airflow backfill create` exited 1" in text
    assert '{"benchmark": "parse", "ratio": 2.5}' in text
    # rows come in the benchmarks' order whichever run measured them last
    assert text.index("`parse.py") < text.index("`drift.py") < text.index("`run_cost.py")
    # rows come in the benchmarks' order whichever run measured them last
    assert text.index("`parse.py") < text.index("`drift.py") < text.index("`run_cost.py")


def test_an_unknown_benchmark_name_is_refused(capsys) -> None:
    table = _table()
    try:
        table.main(["--only", "parse,nope"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "--only: unknown benchmark(s) ['nope']" in capsys.readouterr().err
