"""`driftline run` never lets dag.test() delete a run of the running stack (scheduled, backfill, triggered).

Found under `make up`: `driftline run churn --date 2026-01-17` deleted `backfill__2026-01-19...`, the
backfill run of logical date 2026-01-18 (it had scored day 18), from Airflow's database.
"""

from __future__ import annotations

import datetime as dt

import pytest
from driftline import localrun

DAG_ID = "driftline__guard_test"


@pytest.fixture(scope="module")
def runs():
    from airflow.models.dagrun import DagRun
    from airflow.utils.db import initdb
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    initdb()

    def run(run_id: str, logical: dt.datetime, run_type: DagRunType, by: DagRunTriggeredByType) -> DagRun:
        return DagRun(
            dag_id=DAG_ID,
            run_id=run_id,
            logical_date=logical,
            run_after=logical + dt.timedelta(days=1),
            data_interval=(logical, logical + dt.timedelta(days=1)),
            run_type=run_type,
            triggered_by=by,
            state=DagRunState.SUCCESS,
        )

    with create_session() as session:
        session.query(DagRun).filter(DagRun.dag_id == DAG_ID).delete()
        session.add(
            run(
                "backfill__2026-01-19T00:00:00+00:00",
                dt.datetime(2026, 1, 18, tzinfo=dt.UTC),
                DagRunType.BACKFILL_JOB,
                DagRunTriggeredByType.BACKFILL,
            )
        )
        session.add(
            run(
                "manual__2026-11-28T19:30:00",
                dt.datetime(2026, 1, 20, tzinfo=dt.UTC),
                DagRunType.MANUAL,
                DagRunTriggeredByType.TEST,
            )
        )
    yield


def test_a_backfill_run_in_the_way_is_named_and_a_dag_test_run_is_not(runs) -> None:
    found = localrun.runs_in_the_way(DAG_ID, localrun.days(dt.date(2026, 1, 16), dt.date(2026, 1, 19)))
    assert len(found) == 1  # day 19's run is dag.test()'s own (a re-run replaces it, as before)
    assert found[0].startswith(
        "data day 2026-01-17: logical date 2026-01-18 00:00 UTC is 'backfill__2026-01-19T00:00:00+00:00' "
        "(backfill, success, data interval 2026-01-18"
    )


def test_run_refuses_before_running_anything(runs, capsys, monkeypatch) -> None:
    monkeypatch.setattr(localrun, "_ensure_db", lambda: None)
    monkeypatch.setattr(
        localrun, "_pipeline_dag", lambda model, which="pipeline": type("Dag", (), {"dag_id": DAG_ID})()
    )
    assert localrun.main(["guard_test", "--start", "2026-01-17", "--end", "2026-01-17"]) == 2
    err = capsys.readouterr().err
    assert "dag.test() would delete these runs of driftline__guard_test" in err
    assert "Nothing was run" in err and "--replace" in err
