"""Cost per model-day under the real scheduler: the example model vs a same-shape DAG of no-op tasks.

    .venv/bin/python benchmarks/run_cost.py [--quick] [--repeat N] [--no-preload]

Starts a throw-away Airflow (its own AIRFLOW_HOME, SQLite, LocalExecutor): `airflow api-server`
on a free loopback port, `airflow scheduler` and `airflow dag-processor`. Its dags folder holds
Driftline's DAG file with the example config, and `driftline_noop`: the pipeline's task graph
read from the real DAG (same ids, edges and trigger rules), every task a no-op that runs in its
own task process like the real one, EmptyOperators kept as such, and the branch always taking
keep_champion (the no-retrain path).
Runs are created one at a time (the scheduler creates none of its own): the model's days with
`airflow backfill create` (so each run has that day's logical date and data interval), the
no-op DAG with `airflow dags trigger`:
  1. a retrain day of `driftline__churn` (scores 2026-01-15; no champion yet, so it trains,
     registers and promotes);
  2. a no-retrain day (scores 2026-01-16; the champion is kept);
  3. the no-op DAG;
(2 and 3 are repeated `--repeat` times, on consecutive quiet days; the median counts).

CPU is what the task processes cost: the user+system seconds of the LocalExecutor's worker
processes and of every task process they forked and reaped (Linux rusage, read via psutil as the
workers' own and children's times), taken before and after each run. The scheduler, DAG processor
and API server are outside it (they cost the same whichever DAG runs). Wall is trigger to
finished run. With preloading (the default, as documented in driftline/preload.py) the workers
come from a fork server that imported `driftline.preload` once: `preload_cpu_s` reports that
one-off cost per scheduler start. `--no-preload` measures plain fork workers (Airflow defaults).

Last stdout line: one JSON object (noop_cpu_s, noop_wall_s, no_retrain_cpu_s, no_retrain_wall_s,
retrain_cpu_s, retrain_wall_s, overhead = no_retrain_cpu_s / noop_cpu_s, lower is better).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PIPELINE = "driftline__churn"
NOOP = "driftline_noop"
RETRAIN_DAY = "2026-01-16"  # the run scores 2026-01-15
QUIET_DAYS = [f"2026-01-{d}" for d in range(17, 27)]  # each scores the day before
KEYS = (
    "noop_cpu_s",
    "noop_wall_s",
    "no_retrain_cpu_s",
    "no_retrain_wall_s",
    "retrain_cpu_s",
    "retrain_wall_s",
    "overhead",
)

# The pipeline's task graph, read from the real DAG (ids, edges, trigger rules, which tasks are
# EmptyOperators and which branch), so the baseline keeps the same shape as the DAG changes.
SHAPE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk.bases.skipmixin import SkipMixin
dag = DagBag(dag_folder=sys.argv[1], safe_mode=True).dags[sys.argv[2]]
print(json.dumps([
    {"task_id": t.task_id, "upstream": sorted(t.upstream_task_ids), "trigger_rule": getattr(t.trigger_rule, "value", str(t.trigger_rule)),
     "kind": "empty" if isinstance(t, EmptyOperator) else "branch" if isinstance(t, SkipMixin) else "noop"}
    for t in dag.tasks
]))
"""

NOOP_DAG = '''"""The pipeline's shape, every task a no-op (benchmarks/run_cost.py's baseline)."""
from __future__ import annotations

import datetime as dt
import json

from airflow.providers.standard.operators.branch import BranchMixIn
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, BaseOperator

SHAPE = json.loads(%(shape)r)


class NoopOperator(BaseOperator):
    def execute(self, context):
        return None


class NoopBranch(BaseOperator, BranchMixIn):
    inherits_from_skipmixin = True

    def execute(self, context):
        return self.do_branch(context, "keep_champion")


KINDS = {"noop": NoopOperator, "empty": EmptyOperator, "branch": NoopBranch}
with DAG(dag_id="driftline_noop", schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
         catchup=False, default_args={"retries": 2}):
    tasks = {t["task_id"]: KINDS[t["kind"]](task_id=t["task_id"], trigger_rule=t["trigger_rule"]) for t in SHAPE}
    for t in SHAPE:
        for up in t["upstream"]:
            tasks[up] >> tasks[t["task_id"]]
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(root: Path, port: int, preload: bool, dynamodb_port: int = 0) -> dict[str, str]:
    from driftline.settings import PRELOAD_ENV

    # PYTHONDONTWRITEBYTECODE (set on these machines) would make every task process compile
    # Driftline's modules from source again: a deployment's image holds their bytecode.
    drop = ("AIRFLOW", "DRIFTLINE_", "MLFLOW_", "AWS_", "PYTHONDONTWRITEBYTECODE")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    home = root / "driftline"
    env = {
        **keep,
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{root / 'airflow' / 'airflow.db'}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the runs this script creates
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        # score_and_write writes to a DynamoDB endpoint of its own process (moto_server, see measure)
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {
                "conn_type": "aws",
                "extra": {"endpoint_url": f"http://127.0.0.1:{dynamodb_port}", "region_name": "us-east-1"},
            }
        ),
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(
            {"conn_type": "mlflow", "extra": {"tracking_uri": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"}}
        ),
        "DRIFTLINE_HOME": str(home),
        "DRIFTLINE_DATA": str(home / "data"),
        "DRIFTLINE_PROJECT_ROOT": str(REPO),
        "DRIFTLINE_CONFIGS": str(root / "dags" / "configs"),
        "GIT_PYTHON_REFRESH": "quiet",
        "GX_ANALYTICS_ENABLED": "false",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    if preload:
        env.update(PRELOAD_ENV)
    return env


def prepare(root: Path, env: dict[str, str], quick: bool) -> None:
    dags = root / "dags"
    (dags / "configs").mkdir(parents=True)
    (root / "plugins").mkdir()
    shutil.copy(REPO / "dags" / "driftline_dags.py", dags / "driftline_dags.py")
    shutil.copy(REPO / "dags" / "configs" / "churn.yaml", dags / "configs" / "churn.yaml")
    shape = (
        subprocess.run(
            [sys.executable, "-c", SHAPE, str(dags), PIPELINE],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    (dags / "driftline_noop.py").write_text(NOOP_DAG % {"shape": shape})
    (root / "driftline" / "mlflow").mkdir(parents=True)
    generate = [
        sys.executable,
        str(REPO / "include" / "generate_churn_data.py"),
        "--out",
        env["DRIFTLINE_DATA"],
    ]
    days = ["--start", "2026-01-01", "--days", "26", "--rows", "2000"]
    quiet = ["--drift-day", "2030-01-01", "--corrupt-day", "2030-01-01"]  # every day clean and quiet
    subprocess.run(
        [*generate, *days, *quiet],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)


@contextmanager
def dynamodb_running(root: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A moto DynamoDB endpoint in its own process: the external service, outside the measured CPU."""
    with (root / "moto.log").open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def airflow_running(root: Path, env: dict[str, str]) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    logs = root / "component-logs"
    logs.mkdir()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, args in (
            ("api-server", ["api-server", "--port", env["AIRFLOW__API__PORT"], "--host", "127.0.0.1"]),
            ("dag-processor", ["dag-processor"]),
            ("scheduler", ["scheduler"]),
        ):
            with (logs / f"{name}.log").open("wb") as out:
                procs[name] = subprocess.Popen(
                    [str(BIN / "airflow"), *args], env=env, stdout=out, stderr=subprocess.STDOUT
                )
        yield procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def api_ready(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=10) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(sql, args).fetchall()


def wait_for(what: str, check: Any, timeout: float, procs: dict[str, subprocess.Popen[bytes]]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise SystemExit(f"airflow {name} exited with {proc.returncode} while waiting for {what}")
        got = check()
        if got:
            return got
        time.sleep(1.0)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def workers(scheduler_pid: int) -> tuple[list[Any], list[Any]]:
    """(LocalExecutor worker processes, fork servers) under the scheduler."""
    import psutil

    found, servers = [], []
    for proc in psutil.Process(scheduler_pid).children(recursive=True):
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "LocalExecutor" in cmd:
            found.append(proc)
        elif "forkserver" in cmd:
            servers.append(proc)
    return found, servers


def cpu_by_pid(procs: list[Any], with_children: bool = True) -> dict[int, float]:
    """User+system seconds of each process, plus those of the children it has reaped."""
    import psutil

    out = {}
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        out[proc.pid] = t.user + t.system + ((t.children_user + t.children_system) if with_children else 0.0)
    return out


def run_once(
    root: Path,
    env: dict[str, str],
    dag_id: str,
    logical: str | None,
    procs: dict[str, subprocess.Popen[bytes]],
) -> dict[str, Any]:
    db = root / "airflow" / "airflow.db"
    pool, _ = workers(procs["scheduler"].pid)
    before = cpu_by_pid(pool)
    if logical:  # a backfill run: Airflow gives it the day's logical date and data interval
        # Airflow allows one running backfill per DAG, and the scheduler marks a backfill complete
        # in its own loop some time after the backfill's last run finished: `backfill create` for
        # the next day right after the previous one exits 1 (AlreadyRunningBackfill). Wait for it.
        wait_for(
            f"the previous backfill of {dag_id} to be marked complete",
            lambda: (
                not query(db, "select id from backfill where dag_id = ? and completed_at is null", dag_id)
            ),
            300,
            procs,
        )
        run_id = ""
        args = ["backfill", "create", "--dag-id", dag_id, "--from-date", logical, "--to-date", logical]
    else:
        run_id = f"bench__{dag_id}__{secrets.token_hex(4)}"
        args = ["dags", "trigger", dag_id, "--run-id", run_id]
    t0 = time.monotonic()
    made = subprocess.run([str(BIN / "airflow"), *args], env=env, capture_output=True, text=True)
    for _ in range(5):
        # SQLite has one writer: under load the scheduler, dag-processor and api-server hold the lock
        # past sqlite3's 5 s busy timeout and the CLI's insert fails "database is locked" (exit 1;
        # seen at full size on `backfill create --from-date 2026-01-17`). The create is one
        # transaction, so nothing was written: try again, unless a backfill for the day exists now.
        locked = made.returncode != 0 and "database is locked" in made.stderr + made.stdout
        if not locked or (
            logical
            and query(
                db, "select id from backfill where dag_id = ? and from_date like ?", dag_id, f"{logical}%"
            )
        ):
            break
        print(f"`airflow {' '.join(args)}`: database is locked, trying again", file=sys.stderr)
        time.sleep(5)
        made = subprocess.run([str(BIN / "airflow"), *args], env=env, capture_output=True, text=True)
    if made.returncode != 0:
        raise SystemExit(
            f"`airflow {' '.join(args)}` exited {made.returncode}:\n{made.stdout[-2000:]}{made.stderr[-3000:]}"
        )
    if not run_id:
        run_id = wait_for(
            f"the backfill run of {dag_id} for {logical}",
            lambda: next(
                (
                    r
                    for (r,) in query(
                        db,
                        "select run_id from dag_run where dag_id = ? and run_type = 'backfill' and logical_date like ?",
                        dag_id,
                        f"{logical}%",
                    )
                ),
                None,
            ),
            300,
            procs,
        )
    state = wait_for(
        f"run {run_id}",
        lambda: next(
            (
                s
                for (s,) in query(
                    db, "select state from dag_run where dag_id = ? and run_id = ?", dag_id, run_id
                )
                if s in ("success", "failed")
            ),
            None,
        ),
        1800,
        procs,
    )
    wall = time.monotonic() - t0
    pool, _ = workers(procs["scheduler"].pid)
    # a worker started during the run (forkserver workers spawn on demand) counts from zero
    cpu = sum(value - before.get(pid, 0.0) for pid, value in cpu_by_pid(pool).items())
    tasks = query(db, "select task_id, state from task_instance where run_id = ? order by task_id", run_id)
    return {
        "dag_id": dag_id,
        "run_id": run_id,
        "state": state,
        "wall_s": wall,
        "cpu_s": cpu,
        "tasks": dict(tasks),
    }


def measure(quick: bool, repeat: int, preload: bool, keep: bool) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="driftline-run-cost-"))
    port, dynamodb_port = free_port(), free_port()
    env = environment(root, port, preload, dynamodb_port)
    try:
        prepare(root, env, quick)
        db = root / "airflow" / "airflow.db"
        with dynamodb_running(root, dynamodb_port), airflow_running(root, env) as procs:
            wait_for(
                "the DAGs to be parsed",
                lambda: (
                    {PIPELINE, NOOP}
                    <= {
                        d
                        for (d,) in query(db, "select dag_id from dag where is_stale = 0 or is_stale is null")
                    }
                ),
                600,
                procs,
            )
            # a task's first call to the execution API must not meet an api-server still starting
            # (under load its first answer took minutes: the first task timed out and waited out a
            # 5-minute retry delay inside the warm-up run)
            wait_for(
                "the api-server to answer", lambda: api_ready(int(env["AIRFLOW__API__PORT"])), 600, procs
            )
            # the first no-op run also brings up the worker pool (fork server + preload)
            warm = run_once(root, env, NOOP, None, procs)
            pool, servers = workers(procs["scheduler"].pid)
            preload_cpu = sum(cpu_by_pid(servers, with_children=False).values()) if preload else 0.0
            retrain = run_once(root, env, PIPELINE, RETRAIN_DAY, procs)
            quiet, noop = [], []
            for i in range(repeat):
                quiet.append(run_once(root, env, PIPELINE, QUIET_DAYS[i], procs))
                noop.append(run_once(root, env, NOOP, None, procs))
        runs = [warm, retrain, *quiet, *noop]
        for run in runs:
            print(json.dumps(run), file=sys.stderr)
        failed = [r for r in runs if r["state"] != "success"]
        noop_cpu = statistics.median(r["cpu_s"] for r in noop)
        quiet_cpu = statistics.median(r["cpu_s"] for r in quiet)
        result: dict[str, Any] = {
            "benchmark": "run_cost",
            "quick": quick,
            "preload": preload,
            "repeat": repeat,
            "noop_cpu_s": round(noop_cpu, 2),
            "noop_wall_s": round(statistics.median(r["wall_s"] for r in noop), 2),
            "no_retrain_cpu_s": round(quiet_cpu, 2),
            "no_retrain_wall_s": round(statistics.median(r["wall_s"] for r in quiet), 2),
            "retrain_cpu_s": round(retrain["cpu_s"], 2),
            "retrain_wall_s": round(retrain["wall_s"], 2),
            "overhead": round(quiet_cpu / noop_cpu, 2) if noop_cpu > 0 else None,
            "preload_cpu_s": round(preload_cpu, 2),
            "workers": len(pool),
            "retrain_tasks": retrain["tasks"],
            "no_retrain_tasks": quiet[0]["tasks"],
            "failed_runs": [r["run_id"] for r in failed],
        }
        if failed:
            result["logs"] = str(root)
            keep = True
        return result
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one no-retrain and one no-op run")
    parser.add_argument("--repeat", type=int, default=None, help="no-retrain and no-op runs (default 3)")
    parser.add_argument(
        "--no-preload", dest="preload", action="store_false", help="Airflow's default workers"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary AIRFLOW_HOME")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: the finally blocks stop the scheduler, dag-processor, api-server
    # and moto_server (killed outright, they were left running with their temporary AIRFLOW_HOME)
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    repeat = args.repeat or (1 if args.quick else 3)
    if not 1 <= repeat <= len(QUIET_DAYS):
        parser.error(f"--repeat must be between 1 and {len(QUIET_DAYS)}")
    result = measure(args.quick, repeat, args.preload, args.keep)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
