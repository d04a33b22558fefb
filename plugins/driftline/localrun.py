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
import signal
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


def _pipeline_dag(model: str, which: str = "pipeline") -> Any:
    from airflow.dag_processing.dagbag import DagBag

    from driftline.factory.ids import RESERVED, ab_evaluation_dag_id, config_error_dag_id, pipeline_dag_id

    bag = DagBag(dag_folder=str(project_root() / "dags"), safe_mode=True)
    dag_id = ab_evaluation_dag_id(model) if which == "ab" else pipeline_dag_id(model)
    if which == "ab" and dag_id not in bag.dags and pipeline_dag_id(model) in bag.dags:
        raise SystemExit(
            f"model {model!r} has no A/B evaluation DAG ({dag_id!r}): its config has no ab_test section "
            "with enabled: true"
        )
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


def pending_approvals(dag_id: str) -> list[dict[str, Any]]:
    """The approvals of `dag_id` waiting for an answer (HITL details with no response yet)."""
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(HITLDetail, TaskInstance)
            .join(TaskInstance, TaskInstance.id == HITLDetail.ti_id)
            .where(
                TaskInstance.dag_id == dag_id,
                HITLDetail.responded_at.is_(None),
                TaskInstance.state.in_(("awaiting_input", "deferred")),
            )
        ).all()
        return [
            {
                "ti_id": str(detail.ti_id),
                "run_id": ti.run_id,
                "task_id": ti.task_id,
                "subject": detail.subject,
                "options": list(detail.options or []),
                "defaults": list(detail.defaults or []),
                "respondents": [a["id"] for a in detail.assignees or []],
                "created_at": detail.created_at,
                "timeout_at": ti.trigger_timeout,
            }
            for detail, ti in rows
        ]


def dag_id_of(model: str, dag: str = "pipeline") -> str:
    """The DAG id of `model`'s pipeline ("pipeline") or A/B evaluation ("ab")."""
    from driftline.factory.ids import ab_evaluation_dag_id, pipeline_dag_id

    return ab_evaluation_dag_id(model) if dag == "ab" else pipeline_dag_id(model)


def version_asked(subject: str) -> int | None:
    """The model version an approval asks about, read from the subject PromotionApprovalOperator writes
    ("Promote version 7 of churn to champion?"); None for another subject."""
    import re

    found = re.match(r"Promote version (\d+) of ", subject or "")
    return int(found.group(1)) if found else None


def answer_approval(
    dag_id: str,
    run_id: str | None,
    option: str,
    user: str,
    task_id: str = "approve_promotion",
    version: int | None = None,
) -> str:
    """Record `user`'s answer `option` to a waiting approval of `dag_id` (the run's pending one); returns a summary.

    What the HITL REST API's PATCH (the Airflow UI's Required Actions page) does: the answer is stored
    and the parked (`awaiting_input`) task is scheduled again, so the run (scheduler or dag.test())
    resumes it. Refuses an unknown option, a user who is not a respondent, a run with no waiting
    approval, and, with `version`, an approval that asks about another version (the human answers
    what they looked at, never a newer request that replaced it).
    """
    import uuid

    from airflow.models.hitl import HITLDetail
    from airflow.utils.session import create_session

    waiting = [
        w
        for w in pending_approvals(dag_id)
        if w["task_id"] == task_id and (run_id is None or w["run_id"] == run_id)
    ]
    if not waiting:
        raise ApprovalAnswerError(
            f"no approval of {dag_id} is waiting"
            + (f" in run {run_id!r}" if run_id else "")
            + f" (task {task_id}); waiting now: {[w['run_id'] for w in pending_approvals(dag_id)]}"
        )
    if version is not None and len(waiting) > 1:
        waiting = [w for w in waiting if version_asked(w["subject"]) == version] or waiting
    if len(waiting) > 1:
        raise ApprovalAnswerError(
            f"{len(waiting)} approvals of {dag_id} are waiting: name one with --run ({[w['run_id'] for w in waiting]})"
        )
    item = waiting[0]
    if version is not None and version_asked(item["subject"]) != version:
        raise ApprovalAnswerError(
            f"the approval waiting in run {item['run_id']!r} asks {item['subject']!r}, not about version "
            f"{version}: nothing was recorded"
        )
    if option not in item["options"]:
        raise ApprovalAnswerError(f"--option {option!r} is not one of {item['options']}")
    if item["respondents"] and user not in item["respondents"]:
        raise ApprovalAnswerError(
            f"--user {user!r} may not answer: registry.approval.respondents is {item['respondents']}"
        )
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import handle_event_submit
    from airflow.triggers.base import TriggerEvent
    from airflow.utils.state import TaskInstanceState

    ti_id = uuid.UUID(item["ti_id"])  # the key column is a Uuid: a str fails to bind ('str' has no .hex)
    with create_session() as session:  # what the HITL REST API's PATCH does, in the same order
        ti = session.get(TaskInstance, ti_id, with_for_update=True)
        detail = session.get(HITLDetail, ti_id)
        if ti is None or detail is None or detail.responded_at is not None:
            raise ApprovalAnswerError(f"the approval of run {item['run_id']!r} was answered meanwhile")
        detail.chosen_options = [option]
        detail.params_input = {}
        detail.responded_by = {"id": user, "name": user}
        detail.responded_at = dt.datetime.now(dt.UTC)
        session.add(detail)
        if ti.state in (TaskInstanceState.AWAITING_INPUT, TaskInstanceState.DEFERRED):
            handle_event_submit(
                TriggerEvent(detail.as_resume_event_payload()), task_instance=ti, session=session
            )
    return f"{user} answered {option!r} to {item['subject']!r} ({dag_id}, run {item['run_id']})"


class ApprovalAnswerError(ValueError):
    """An answer to an approval that cannot be recorded (no such approval, option or respondent)."""


def answer_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="driftline approve")
    parser.add_argument("model")
    parser.add_argument("version", nargs="?", type=int, default=None)
    parser.add_argument("--run", default=None)
    parser.add_argument("--option", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--task", default="approve_promotion")
    parser.add_argument("--dag", choices=("pipeline", "ab"), default="pipeline")
    args = parser.parse_args(argv)
    try:
        dag_id = dag_id_of(args.model, args.dag)
        print(answer_approval(dag_id, args.run, args.option, args.user, args.task, args.version))
    except ApprovalAnswerError as exc:
        print(f"driftline approve: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # no database yet, or not one Airflow made: say so, not a traceback
        from sqlalchemy.exc import OperationalError

        if not isinstance(exc, OperationalError):
            raise
        import os

        print(
            f"driftline approve: cannot read approvals from Airflow's database "
            f"({os.environ.get('AIRFLOW__DATABASE__SQL_ALCHEMY_CONN', 'the configured one')}): {exc.orig}; "
            "nothing is waiting there (`driftline run` and `make up` create it)",
            file=sys.stderr,
        )
        return 1
    return 0


class ApprovalWatcher:
    """While a day runs: tell the terminal what approval is awaited, how to answer, and when it times out.

    dag.test() runs the approval's HITL trigger in line: it checks the database for an answer every few
    seconds and applies `registry.approval.timeout_hours` (then the default option, Reject). This thread
    only makes the wait visible (the task logs go to a file) and, when stdin is a terminal, asks for the
    answer there and records it as `driftline approve` would.
    """

    def __init__(self, dag_id: str, model: str, poll_s: float = 2.0) -> None:
        import os
        import threading

        self.dag_id = dag_id
        self.model = model
        self.poll_s = poll_s
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="approval-watcher", daemon=True)
        # the day's run sends fds 1 and 2 to its log file: keep the terminal's
        self.terminal = os.fdopen(os.dup(1), "w", buffering=1)
        self.seen: set[str] = set()

    def __enter__(self) -> ApprovalWatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.terminal.close()

    def _watch(self) -> None:
        while not self.stop.wait(self.poll_s):
            try:
                waiting = pending_approvals(self.dag_id)
                now = dt.datetime.now(dt.UTC)
                if any(w["timeout_at"] is not None and w["timeout_at"] < now for w in waiting):
                    apply_approval_timeouts()
                    continue
            except Exception as exc:  # the database is busy: try again at the next poll
                self.terminal.write(f"  (could not read pending approvals: {exc})\n")
                continue
            for item in waiting:
                if item["ti_id"] in self.seen:
                    continue
                self.seen.add(item["ti_id"])
                self._announce(item)
                if sys.stdin is not None and sys.stdin.isatty():
                    self._prompt(item)

    def _announce(self, item: dict[str, Any]) -> None:
        deadline = f" by {item['timeout_at']:%Y-%m-%d %H:%M:%S} UTC" if item["timeout_at"] else ""
        who = item["respondents"][0] if item["respondents"] else "USER"
        dag = " --dag ab" if self.dag_id.endswith("__ab_evaluation") else ""
        asked = version_asked(item["subject"])
        version = f" {asked}" if asked is not None else ""
        self.terminal.write(
            f"  WAITING  {item['task_id']}: {item['subject']}\n"
            f"           options {item['options']}; respondents {item['respondents'] or 'anyone'}; "
            f"no answer{deadline} -> {item['defaults'] or 'no default'}\n"
            f"           answer from another terminal: driftline approve {self.model}{version} "
            f"--run {item['run_id']} --user {who}{dag}  (or: driftline reject ...)\n"
        )

    def _prompt(self, item: dict[str, Any]) -> None:
        options = item["options"]
        self.terminal.write(
            f"           answer here: option ({'/'.join(options)}) and your user id, e.g. "
            f"'{options[0]} {item['respondents'][0] if item['respondents'] else 'me'}': "
        )
        line = sys.stdin.readline().strip()
        if not line:
            self.terminal.write("           no answer given here: still waiting\n")
            return
        option, _, user = line.partition(" ")
        try:
            self.terminal.write(
                "  "
                + answer_approval(self.dag_id, item["run_id"], option, user.strip(), item["task_id"])
                + "\n"
            )
        except ApprovalAnswerError as exc:
            self.terminal.write(f"           not recorded: {exc}\n")
            self.seen.discard(item["ti_id"])  # ask again at the next poll


def apply_approval_timeouts() -> None:
    """The scheduler's sweep for approvals past their timeout: each gets its default answer (Reject).

    Without a scheduler nobody runs it: an approval under `driftline run` waited forever."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    SchedulerJobRunner(job=Job()).check_awaiting_input_timeouts()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="driftline run")
    parser.add_argument("model")
    parser.add_argument("--start", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--end", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--conf", default="{}")
    parser.add_argument("--replace", action="store_true")
    parser.add_argument("--dag", choices=("pipeline", "ab"), default="pipeline")
    args = parser.parse_args(argv)
    conf = json.loads(args.conf)
    from driftline.demo import run_day

    def stop(signum: int, _frame: object) -> None:  # unwind (finally blocks, the watcher), then exit
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)

    _ensure_db()
    dag = _pipeline_dag(args.model, args.dag)
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
        with ApprovalWatcher(dag.dag_id, args.model):
            state, lines = run_day(dag, day, conf, log_path)
        print("\n".join(lines))
        print(f"  -> run {state} (log: {log_path})")
        failed += state != "success"
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["approve"]:
        sys.exit(answer_main(sys.argv[2:]))
    sys.exit(main())
