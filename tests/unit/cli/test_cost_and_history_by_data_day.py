"""`driftline cost --by run|data-day` and `driftline history` speak in data days, not wall-clock days."""

from __future__ import annotations

import datetime as dt

import pytest
from driftline.cli import main
from driftline.config.models import CostSection
from driftline.cost.ledger import Ledger, TaskKey
from driftline.cost.pricing import task_entries, worker_footprint

RAN = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)  # a backfill of January ran on one March morning


def _ledger(tmp_path, monkeypatch) -> Ledger:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("DRIFTLINE_COST_LEDGER_URL", url)
    ledger = Ledger(url)
    cost = CostSection()
    runs = [
        ("backfill__2026-01-10T00:00:00+00:00", None),  # an older entry: the day comes from the run id
        ("manual__2026-03-01T02:00:00+00:00", "2026-01-11"),  # `driftline run --date 2026-01-11`
        ("manual__2026-03-01T02:30:00+00:00", "2026-01-11"),  # the same data day again
    ]
    for run, day in runs:
        for task in ("load_current", "score_and_write"):
            key = TaskKey("churn", "driftline__churn", run, task, data_day=day)
            end = RAN + dt.timedelta(minutes=10)
            ledger.record(key, task_entries(cost, RAN, end, worker_footprint(cost)), started=RAN, ended=end)
    return ledger


def test_cost_per_run_names_each_runs_data_day(tmp_path, monkeypatch, capsys, driftline_home):
    _ledger(tmp_path, monkeypatch)
    assert main(["cost", "churn", "--by", "run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["model", "data", "day", "dag", "run"]
    assert [line.split()[1] for line in lines[1:]] == ["2026-01-10", "2026-01-11", "2026-01-11"]
    assert (
        "backfill__2026-01-10T00:00:00+00:00" in lines[1] and "manual__2026-03-01T02:30:00+00:00" in lines[3]
    )


def test_cost_by_data_day_groups_and_filters_on_the_data_day(tmp_path, monkeypatch, capsys, driftline_home):
    ledger = _ledger(tmp_path, monkeypatch)
    assert main(["cost", "churn", "--by", "data-day"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[:2] for line in lines] == [["churn", "2026-01-10"], ["churn", "2026-01-11"]]
    one_run = sum(e["amount"] for e in ledger.entries("churn", run_id="backfill__2026-01-10T00:00:00+00:00"))
    assert float(lines[1].split()[2]) == round(2 * one_run, 4)
    # --since is a data day here: every task ran on 2026-03-01, but only data day 01-11 is after 01-11
    assert main(["cost", "churn", "--by", "data-day", "--since", "2026-01-11"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[1] for line in lines] == ["2026-01-11"]
    assert main(["cost", "churn", "--by", "data-day", "--since", "2026-02-01"]) == 1


@pytest.mark.slow
def test_history_shows_the_data_day_of_each_change(driftline_home, capsys):
    from driftline.hooks.mlflow import MlflowHook
    from driftline.registry.promotion import promote

    hook = MlflowHook()
    hook.client.create_registered_model("dd_model")
    source = driftline_home / "artifacts"
    source.mkdir()
    for _ in range(2):
        hook.client.create_model_version("dd_model", source=source.as_uri())
    promote(hook, "dd_model", 1, None, "first", "airflow", details={"data_time": "2026-01-16T00:00:00+00:00"})
    promote(hook, "dd_model", 2, 1, "by hand", "alice")
    assert main(["history", "dd_model"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("data day    seq")
    champion = [line for line in lines[2:] if " champion " in line]
    assert (
        champion[0].startswith("2026-01-15  ") and "first" in champion[0]
    )  # data up to 01-16 00:00: day 01-15
    assert champion[1].startswith("-           ") and "by hand" in champion[1]
