"""`driftline run MODEL --date D`: run a model's pipeline for data days by hand, with dag.test().

Started by `driftline run` in a fresh process whose environment is the project's (see
driftline.localenv), so Airflow reads the project's DAG folder and SQLite database, never
`~/airflow`. Each data day D is the run whose data interval ends at the next midnight UTC (logical
date D + 1 day 00:00 UTC): the run that scores day D. Runs go one day after another, in order;
task retries are off (dag.test() would wait out each retry delay), so a failure shows at once, and
wait_for_data checks once (a missing day fails naming its partitions instead of waiting for hours).
Airflow's task logs go to DRIFTLINE_HOME/logs/run/<model>/<day>.log; this prints each step.

dag.test() first deletes whatever run of the DAG has the same logical date (Airflow's
`get_or_create_dagrun`), with its task instances and XComs. In the database `make up` uses, that
can be a scheduled, backfill or triggered run (which scores the day *after* D: those runs' logical
date is their interval's start). So a run that dag.test() did not make is never replaced unless
`--replace` says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from driftline.settings import driftline_home, project_root


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _ensure_db() -> None:
    """Create/upgrade the project's Airflow database (idempotent; a no-op when it is current)."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    log = driftline_home() / "logs" / "airflow-db-migrate.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        subprocess.run([airflow, "db", "migrate"], stdout=out, stderr=subprocess.STDOUT, check=True)  # noqa: S603 - the venv's own airflow binary; fixed arguments


def logical_date(day: dt.date) -> dt.datetime:
    """The logical date of the run that scores data day `day` (what dag.test() is given)."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def runs_in_the_way(dag_id: str, day_list: Sequence[dt.date]) -> list[str]:
    """Runs that dag.test() would delete for these days and that dag.test() did not make, described."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunTriggeredByType
    from sqlalchemy import select

    found = []
    with create_session() as session:
        for day in day_list:
            run = session.scalar(
                select(DagRun).where(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date(day))
            )
            if run is not None and run.triggered_by != DagRunTriggeredByType.TEST:
                start, end = run.data_interval_start, run.data_interval_end
                found.append(
                    f"data day {day}: logical date {logical_date(day):%Y-%m-%d %H:%M} UTC is {run.run_id!r} "
                    f"({run.run_type}, {run.state}, data interval {start} .. {end})"
                )
    return found


def _pipeline_dag(model: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    from driftline.factory.ids import RESERVED, config_error_dag_id, pipeline_dag_id

    bag = DagBag(dag_folder=str(project_root() / "dags"), safe_mode=True)
    dag_id = pipeline_dag_id(model)
    if dag_id not in bag.dags:
        broken = bag.dags.get(config_error_dag_id(model))
        if broken is not None:
            raise SystemExit(f"model {model!r} has a broken config:\n{broken.doc_md}")
        names = (d.removeprefix("driftline__") for d in bag.dag_ids if d.count("__") == 1)
        models = sorted(n for n in names if n not in RESERVED)  # not the platform's own DAGs
        raise SystemExit(f"no pipeline DAG {dag_id!r}; models: {models}")
    dag = bag.dags[dag_id]
    for task in dag.tasks:
        task.retries = 0
        if task.task_id == "wait_for_data" and hasattr(task, "timeout"):
            # a day run by hand has its data or not: check once and fail naming what is missing,
            # instead of waiting data.wait.timeout_minutes (6 h by default) with nothing on the terminal
            task.timeout = 0
    return dag


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="driftline run")
    parser.add_argument("model")
    parser.add_argument("--start", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--end", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--conf", default="{}")
    parser.add_argument("--replace", action="store_true")
    args = parser.parse_args(argv)
    conf = json.loads(args.conf)
    from driftline.demo import run_day

    _ensure_db()
    dag = _pipeline_dag(args.model)
    in_the_way = runs_in_the_way(dag.dag_id, days(args.start, args.end))
    if in_the_way and not args.replace:
        print(
            f"driftline run: dag.test() would delete these runs of {dag.dag_id} from Airflow's database "
            "(with their task instances and XComs):\n  "
            + "\n  ".join(in_the_way)
            + "\nNothing was run. Re-run a day of the running stack by clearing its run in the Airflow UI "
            "(or `airflow tasks clear`), or pass --replace to delete those runs and run the days here.",
            file=sys.stderr,
        )
        return 2
    logs = driftline_home() / "logs" / "run" / args.model
    failed = 0
    for day in days(args.start, args.end):
        log_path = logs / f"{day.isoformat()}.log"
        if log_path.exists():
            log_path.unlink()
        print(f"\n== {dag.dag_id}: data day {day.isoformat()}" + (f" (conf {conf})" if conf else ""))
        state, lines = run_day(dag, day, conf, log_path)
        print("\n".join(lines))
        print(f"  -> run {state} (log: {log_path})")
        failed += state != "success"
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
