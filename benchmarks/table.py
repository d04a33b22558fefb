"""`make bench`: run the benchmarks and write the measured table (docs/reference/benchmarks-measured.md).

    .venv/bin/python benchmarks/table.py [--quick] [--only parse,run_cost] [--out PATH]

The rows are kept in benchmarks-measured.json beside the page: `--only NAME,...` measures those
benchmarks again and keeps the other rows (each row has its own date and load).

Each benchmark runs in its own process at the size listed in BENCHMARKS: full size, except where
full size takes too long on this 2-core machine (then `--quick`, and the table says so). The table
gets each benchmark's ratio (baseline time / Driftline time, above 1 = Driftline faster; run_cost's
`overhead` is the one figure where lower is better), its JSON line verbatim, its wall time, the
date and the load average before and after each run (the machine is shared: ratios hold, absolute
times drift). A benchmark that fails is a row saying so with the end of its output, and
`make bench` exits 1 after writing the table.

`--quick` runs every benchmark at its quick size (seconds to a few minutes: to check the scripts
and the table, not figures to quote).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "reference" / "benchmarks-measured.md"


@dataclass(frozen=True)
class Benchmark:
    name: str
    args: tuple[str, ...]  # the size `make bench` runs
    size: str  # what that size is, for the table
    figure: str  # the key of its headline figure
    why_quick: str = ""  # set when make bench runs it at its quick size


BENCHMARKS = (
    Benchmark("parse", (), "1000 configs (2001 DAGs, 15,001 tasks) per side", "ratio"),
    Benchmark("validation", (), "1M rows x 20 columns, 40 expectations", "ratio"),
    Benchmark(
        "drift",
        ("--quick",),
        "20k + 20k rows x 10 columns",
        "ratio",
        "full size (1M + 1M rows x 50 columns) runs Evidently on the full data: over 3 min and 3.5 GB "
        "for the baseline alone; `python benchmarks/drift.py` runs it",
    ),
    Benchmark(
        "inference",
        ("--quick",),
        "quick size (see benchmarks/inference.py)",
        "ratio",
        "full size (100k items per writer, scoring 0.5M and 2M rows) takes about 8 min on a quiet "
        "machine; `python benchmarks/inference.py` runs it",
    ),
    Benchmark("api", (), "5000 requests per side, 8 clients", "ratio"),
    Benchmark(
        "run_cost",
        (),
        "a retrain day, 3 no-retrain days and 3 no-op runs under a real scheduler",
        "overhead",
    ),
)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


def run(bench: Benchmark, quick: bool) -> dict[str, Any]:
    args = ("--quick",) if quick else bench.args
    command = [sys.executable, str(REPO / "benchmarks" / f"{bench.name}.py"), *args]
    before = load()
    started = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    began = time.monotonic()
    print(f"== {' '.join(command[1:])} (load {before})", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    wall = time.monotonic() - began
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    result: dict[str, Any] | None = None
    if done.returncode == 0 and lines:
        try:
            result = json.loads(lines[-1])
        except ValueError:
            result = None
    row: dict[str, Any] = {
        "name": bench.name,
        "started": started,
        "finished": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "args": " ".join(args) or "(full size)",
        "quick": "--quick" in args,
        "wall_s": round(wall, 1),
        "load_before": before,
        "load_after": load(),
        "result": result,
    }
    if result is None:
        error = f"exit {done.returncode}; last output: " + (done.stdout[-800:] + done.stderr[-1500:]).strip()
        row["error"] = error
        print(f"   FAILED ({error[:300]})", flush=True)
    else:
        print(f"   {lines[-1]}", flush=True)
    return row


def headline(bench: Benchmark, result: dict[str, Any]) -> str:
    value = result.get(bench.figure)
    if bench.figure == "overhead":
        return (
            f"overhead {value} (no-retrain day {result.get('no_retrain_cpu_s')} CPU-s vs no-op "
            f"{result.get('noop_cpu_s')} CPU-s; lower is better)"
        )
    return f"ratio {value}"


def table(rows: list[dict[str, Any]]) -> str:
    by_name = {b.name: b for b in BENCHMARKS}
    out = [
        "# Benchmarks: the measured table",
        "",
        "Written by `make bench` (`benchmarks/table.py`; the rows are kept in",
        "`benchmarks-measured.json`); do not edit by hand. What each benchmark compares is on",
        "[Benchmarks](benchmarks.md). `ratio` = baseline time / Driftline time (above 1: Driftline",
        "faster); run_cost's `overhead` = CPU of a no-retrain day / CPU of the same-shape no-op DAG",
        "(lower is better).",
        "",
        f"- Machine: {platform.node() or 'unknown'}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}",
        "- Each row: when it ran (UTC) and the load average (1 / 5 / 15 min) before and after it. The "
        "machine is shared, so absolute times drift while the ratios hold.",
        "",
        "| benchmark | size | figure | ran | wall | load before -> after |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        bench = by_name[row["name"]]
        size = bench.size if not row["quick"] or bench.args == ("--quick",) else "quick size"
        if row["quick"]:
            size += " (`--quick`)"
        figure = headline(bench, row["result"]) if row["result"] else "**failed** (see below)"
        out.append(
            f"| `{row['name']}.py {row['args']}` | {size} | {figure} | {row['started']} | "
            f"{row['wall_s']:.0f} s | {row['load_before']} -> {row['load_after']} |"
        )
    quick = [by_name[r["name"]] for r in rows if r["quick"] and by_name[r["name"]].why_quick]
    if quick:
        out += ["", "Run at the quick size by `make bench`:", ""]
        out += [f"- `{b.name}`: {b.why_quick}." for b in quick]
    out += ["", "The JSON lines, verbatim:", ""]
    for row in rows:
        out += [f"`{row['name']}`:", "", "```json" if row["result"] else "```text"]
        out.append(json.dumps(row["result"]) if row["result"] else row.get("error", ""))
        out += ["```", ""]
    return "\n".join(out).rstrip() + "\n"


def merged(kept: list[dict[str, Any]], fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows in BENCHMARKS order: this run's, and the kept ones of the benchmarks it did not run."""
    rows = {r["name"]: r for r in kept if r.get("name") in {b.name for b in BENCHMARKS}}
    rows.update({r["name"]: r for r in fresh})
    return [rows[b.name] for b in BENCHMARKS if b.name in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every benchmark at its quick size")
    parser.add_argument("--only", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"the page to write (default {OUT})")
    args = parser.parse_args(argv)
    names = {b.name for b in BENCHMARKS}
    only = set(args.only.split(",")) if args.only else names
    if only - names:
        parser.error(f"--only: unknown benchmark(s) {sorted(only - names)}; known: {sorted(names)}")
    fresh = [run(b, args.quick) for b in BENCHMARKS if b.name in only]
    store = args.out.with_suffix(".json")
    kept = json.loads(store.read_text(encoding="utf-8")) if store.exists() else []
    rows = merged(kept, fresh)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    args.out.write_text(table(rows), encoding="utf-8")
    failed = [r["name"] for r in fresh if r["result"] is None]
    summary = {
        "benchmark": "table",
        "out": str(args.out),
        "ran": [r["name"] for r in fresh],
        "failed": failed,
    }
    print(json.dumps(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
