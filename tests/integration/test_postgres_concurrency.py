"""Airflow on PostgreSQL with the LocalExecutor: two models' pipelines and a rollback at once (issue 17.5).

A real deployment's shape on one machine: Airflow's metadata database, MLflow's backend store and
the cost ledger are databases of one PostgreSQL cluster; `airflow api-server`, `scheduler` (LocalExecutor, 4
workers from the preloaded fork server), `dag-processor` and `triggerer` run as processes; MLflow
is an `mlflow server` and DynamoDB a moto server, both on loopback, reached through the
`mlflow_default` and `aws_default` connections. The DAG folder holds Driftline's DAG file with two
configs: the example `churn.yaml` and `retention`, the same pipeline on other data (another seed,
its own predictions table).

Runs are created through the REST API, as a user's client would:
  1. churn and retention score 2026-01-15 together (no champion yet: each trains, registers and
     promotes v1);
  2. churn scores 2026-01-25 (the data drifted on the 20th: it retrains and its gate promotes v2)
     while retention retrains on 2026-01-16 (force_retrain); as soon as churn's gate has promoted
     v2, churn's rollback DAG is triggered (no target: back to the previous champion, v1), while
     churn's run still scores and retention's run is still going.
Every run must succeed, and nothing may leak across models: registered models, versions, aliases,
audit trails and experiment runs in MLflow; items in DynamoDB (model, version, Airflow run, exactly
one item per entity of that model's own scored days); cost ledger rows (every task try of a model's
runs, under that model only, no duplicates).

Needs DRIFTLINE_PG_URL (a superuser URL of a PostgreSQL cluster it may create databases in);
`.ci/run` starts a throwaway cluster with scripts/with_postgres.sh and sets it. Locally:
`scripts/with_postgres.sh .venv/bin/pytest tests/integration/test_postgres_concurrency.py`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_URL = os.environ.get("DRIFTLINE_PG_URL", "")
MODELS = ("churn", "retention")
# The data days each model's two pipeline runs score (a run's logical date is the next midnight).
SCORED = {"churn": ("2026-01-15", "2026-01-25"), "retention": ("2026-01-15", "2026-01-16")}
CHURN_DRIFT_DAY = "2026-01-20"
ROWS_PER_DAY = 300  # 2 held-out days hold >= 500 rows (training.min_validation_rows)
PHASE_TIMEOUT_S = 900

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not PG_URL,
        reason="DRIFTLINE_PG_URL is not set: the Postgres concurrency test needs a PostgreSQL cluster "
        "(.ci/run starts one; locally: scripts/with_postgres.sh .venv/bin/pytest "
        "tests/integration/test_postgres_concurrency.py)",
    ),
]


# --- PostgreSQL ---------------------------------------------------------------------------------


def _db_url(name: str) -> str:
    """A SQLAlchemy URL of database `name` with psycopg2 named (SQLAlchemy 2.1's default is psycopg 3)."""
    parts = urlsplit(PG_URL)
    return urlunsplit(("postgresql+psycopg2", parts.netloc, f"/{name}", parts.query, ""))


@contextmanager
def databases(*names: str) -> Iterator[dict[str, str]]:
    """Fresh databases in the cluster (dropped afterwards): name -> SQLAlchemy URL."""
    import psycopg2

    prefix = f"dl_{secrets.token_hex(4)}"
    real = {name: f"{prefix}_{name}" for name in names}
    admin = psycopg2.connect(PG_URL)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            for db in real.values():
                cur.execute(f'CREATE DATABASE "{db}"')
        yield {name: _db_url(db) for name, db in real.items()}
    finally:
        with admin.cursor() as cur:
            for db in real.values():
                cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.close()


# --- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Processes:
    """Servers started by this test, each in its own process group (stopped with everything it forked)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("wb") as out:
            # cwd: the test's folder, so MLflow's model logging does not find (and `uv export`)
            # the repository's uv.lock for every trained model
            self.procs[name] = subprocess.Popen(
                cmd,
                env=env,
                cwd=self.logs.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self, what: str) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(
                    f"{name} exited with {proc.returncode} while waiting for {what}:\n{self.tail(name)}"
                )

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs.values():
            try:  # whatever the group still holds (LocalExecutor workers, task processes)
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)


def wait_for(what: str, check: Callable[[], Any], timeout: float, procs: Processes) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check_alive(what)
        got = check()
        if got:
            return got
        time.sleep(2.0)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except (OSError, urllib.error.URLError):
        return False


# --- the project: DAG folder, configs, data ------------------------------------------------------


def write_project(root: Path) -> None:
    """dags/ with Driftline's DAG file, churn.yaml as it is and `retention` (other data, own table)."""
    configs = root / "dags" / "configs"
    configs.mkdir(parents=True)
    (root / "plugins").mkdir()
    shutil.copy(REPO / "dags" / "driftline_dags.py", root / "dags" / "driftline_dags.py")
    churn = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    # one drifted run retrains (the example holds drift until 2 of 3 runs saw it; this test's churn
    # runs twice, and its second run must retrain on the drift)
    churn["drift"]["persistence"] = {"k": 1, "n": 1}
    (configs / "churn.yaml").write_text(yaml.safe_dump(churn, sort_keys=False))
    retention = yaml.safe_load((REPO / "dags" / "configs" / "churn.yaml").read_text())
    retention["model"].update(
        name="retention", description="Customers likely to stay: the churn pipeline on another market."
    )
    retention["data"]["source"]["path"] = "{data_root}/retention/dt={ds}/part.parquet"
    retention["training"]["estimator"]["params"] = {"max_iter": 60, "learning_rate": 0.1, "random_state": 11}
    retention["inference"]["table"] = "driftline-retention-predictions"
    (configs / "retention.yaml").write_text(yaml.safe_dump(retention, sort_keys=False))


def write_data(data: Path) -> None:
    """churn: 25 clean days from 2026-01-01, drifted from the 20th; retention: 16 quiet days, another seed."""
    generate = [sys.executable, str(REPO / "include" / "generate_churn_data.py")]
    common = ["--start", "2026-01-01", "--rows", str(ROWS_PER_DAY), "--corrupt-day", "2030-01-01"]
    subprocess.run(
        [*generate, "--out", str(data), *common, "--days", "25", "--drift-day", CHURN_DRIFT_DAY],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    other = data.parent / "retention-gen"
    quiet = ["--days", "16", "--drift-day", "2030-01-01", "--seed", "7"]
    subprocess.run([*generate, "--out", str(other), *common, *quiet], check=True, stdout=subprocess.DEVNULL)
    (other / "churn").rename(data / "retention")
    shutil.rmtree(other)  # the generator's other outputs (A/B outcomes) are churn's, not retention's


def logical_date(day: str) -> str:
    """The logical date of the manual run that scores data day `day` (its next midnight, UTC)."""
    return f"{dt.date.fromisoformat(day) + dt.timedelta(days=1)}T00:00:00+00:00"


def airflow_env(root: Path, dbs: dict[str, str], ports: dict[str, int]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DRIFTLINE_", "MLFLOW_"))}
    home = root / "driftline"
    api = f"http://127.0.0.1:{ports['airflow']}"
    return {
        **keep,
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": dbs["airflow"],
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(ports["airflow"]),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the runs this test creates
        "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
        "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": "airflow.executors.local_executor,driftline.preload",
        "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": ports["mlflow"], "schema": "http"}
        ),
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"region_name": "us-east-1", "endpoint_url": f"http://127.0.0.1:{ports['moto']}"},
            }
        ),
        "DRIFTLINE_COST_LEDGER_URL": dbs["ledger"],
        "DRIFTLINE_HOME": str(home),
        "DRIFTLINE_DATA": str(home / "data"),
        "DRIFTLINE_PROJECT_ROOT": str(REPO),
        "DRIFTLINE_CONFIGS": str(root / "dags" / "configs"),
        "GIT_PYTHON_REFRESH": "quiet",
        "GX_ANALYTICS_ENABLED": "false",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
        # Two trainings share two cores: one OpenMP thread each (scikit-learn's histogram GBM)
        # instead of a thread per core in each, which oversubscribes the cores.
        "OMP_NUM_THREADS": "1",
    }


# --- Airflow's REST API --------------------------------------------------------------------------


class AirflowApi:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self._token = ""

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        if not self._token:
            with urllib.request.urlopen(f"{self.base}/auth/token", timeout=30) as resp:
                self._token = json.load(resp)["access_token"]
        req = urllib.request.Request(
            f"{self.base}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:2000]!r}") from exc

    def trigger(self, dag_id: str, run_id: str, logical_date: str | None, conf: dict[str, Any]) -> None:
        self._request(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            {"dag_run_id": run_id, "logical_date": logical_date, "conf": conf},
        )

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        return result

    def tasks(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        got = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")
        return {ti["task_id"]: ti for ti in got["task_instances"]}

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        got = self._request(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
        )
        value = got["value"]
        return json.loads(value) if isinstance(value, str) else value

    def dag_ids(self) -> set[str]:
        got = self._request("GET", "/api/v2/dags?limit=100")
        return {d["dag_id"] for d in got["dags"]}


Run = tuple[str, str]  # (dag_id, run_id)


def wait_runs(api: AirflowApi, procs: Processes, root: Path, keys: list[Run]) -> dict[Run, dict[str, Any]]:
    """Wait until every run has finished; fail with the failed tasks' logs."""

    def finished() -> dict[Run, dict[str, Any]] | None:
        states = {key: api.run(*key) for key in keys}
        done = all(s["state"] in ("success", "failed") for s in states.values())
        return states if done else None

    states: dict[Run, dict[str, Any]] = wait_for(
        f"runs {[r for _, r in keys]}", finished, PHASE_TIMEOUT_S, procs
    )
    failed = [key for key, s in states.items() if s["state"] != "success"]
    if failed:
        raise AssertionError(f"runs failed: {sorted(failed)}\n" + failure_report(api, root, failed))
    return states


def wait_task(api: AirflowApi, procs: Processes, root: Path, key: Run, task_id: str) -> None:
    """Wait until one task of a run has succeeded (fail at once if the run fails)."""

    def done() -> bool:
        state = api.tasks(*key)[task_id]["state"]
        if api.run(*key)["state"] == "failed":
            raise AssertionError(f"run {key} failed\n" + failure_report(api, root, [key]))
        return state == "success"

    wait_for(f"{task_id} of {key}", done, PHASE_TIMEOUT_S, procs)


def failure_report(api: AirflowApi, root: Path, keys: list[Run]) -> str:
    report = []
    for dag_id, run_id in keys:
        for task_id, ti in api.tasks(dag_id, run_id).items():
            if ti["state"] not in ("success", "skipped", None):
                report.append(f"--- {dag_id} {run_id} {task_id}: {ti['state']}")
                logs = (
                    root / "airflow" / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
                )
                for log in sorted(logs.glob("*.log")):
                    report.append("\n".join(log.read_text(errors="replace").splitlines()[-60:]))
    return "\n".join(report)


def overlapping(a: dict[str, Any], b: dict[str, Any]) -> bool:
    start_a, end_a = dt.datetime.fromisoformat(a["start_date"]), dt.datetime.fromisoformat(a["end_date"])
    start_b, end_b = dt.datetime.fromisoformat(b["start_date"]), dt.datetime.fromisoformat(b["end_date"])
    return start_a < end_b and start_b < end_a


# --- what each system holds afterwards -----------------------------------------------------------


def check_mlflow(
    tracking_uri: str, api: AirflowApi, runs: dict[str, list[str]]
) -> tuple[dict[str, dict[str, int]], dict[str, set[int]]]:
    """Each model's registry and experiments hold only its own names; returns its aliases and versions."""
    from driftline.registry.audit import entries_from_tags
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    names = {m.name for m in client.search_registered_models() if not m.name.startswith("_driftline_lock.")}
    assert names == set(MODELS)
    aliases: dict[str, dict[str, int]] = {}
    held_by: dict[str, set[int]] = {}
    for model in MODELS:
        dag_id = f"driftline__{model}"
        versions = client.search_model_versions(f"name = '{model}'")
        registered = [
            run_id for run_id in runs[model] if api.tasks(dag_id, run_id)["register"]["state"] == "success"
        ]
        assert len(versions) == len(registered), (model, [v.version for v in versions], registered)
        experiment = client.get_experiment_by_name(f"driftline/{model}")
        assert experiment is not None
        for version in versions:
            assert version.tags["airflow.dag_id"] == dag_id
            assert version.tags["airflow.run_id"] in registered
            assert client.get_run(version.run_id).info.experiment_id == experiment.experiment_id
        held = {int(v.version) for v in versions}
        model_aliases = {alias: int(v) for alias, v in client.get_registered_model(model).aliases.items()}
        assert set(model_aliases.values()) <= held, (model, model_aliases, held)
        entries = entries_from_tags(dict(client.get_registered_model(model).tags))
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1)), (
            "audit trail with gaps or duplicates"
        )
        for entry in entries:
            assert {entry.from_version, entry.to_version} - {None} <= held
        last_champion = [e.to_version for e in entries if e.alias == "champion"][-1]
        assert last_champion == model_aliases["champion"], (model, model_aliases, entries)
        aliases[model] = model_aliases
        held_by[model] = held
        pipeline_runs = set(runs[model]) | set(runs.get(f"{model}__rollback", []))
        tagged = 0
        for exp in client.search_experiments(filter_string=f"name LIKE 'driftline/{model}%'"):
            for run in client.search_runs([exp.experiment_id], max_results=1000):
                tags = run.data.tags
                if "airflow.dag_id" in tags or "airflow.run_id" in tags:
                    assert tags.get("airflow.dag_id") in (dag_id, f"{dag_id}__rollback"), (exp.name, tags)
                    assert tags.get("airflow.run_id") in pipeline_runs, (exp.name, tags)
                    tagged += 1
        assert tagged >= len(runs[model]), (model, tagged)  # at least each run's retrain decision
    return aliases, held_by


def check_dynamodb(
    endpoint: str, data: Path, runs: dict[str, list[str]], versions: dict[str, set[int]]
) -> None:
    """Each table holds one item per entity of its own model's scored days, written by its own runs.

    An entity seen on both scored days carries the later run's item (the `latest` layout); all items
    of one run carry the one model version that run resolved, a version of that model.
    """
    import boto3
    import pandas as pd

    dynamodb = boto3.resource(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for model in MODELS:
        table = dynamodb.Table(f"driftline-{model}-predictions")
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = table.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        predictions = [i for i in items if not str(i["entity_id"]).startswith("__driftline")]
        writer: dict[str, str] = {}  # entity -> the run of the latest scored day that holds it
        for day, run_id in zip(SCORED[model], runs[model], strict=True):
            frame = pd.read_parquet(data / model / f"dt={day}" / "part.parquet", columns=["customer_id"])
            writer.update(dict.fromkeys(frame["customer_id"], run_id))
        assert len(predictions) == len(writer), (model, len(predictions), len(writer))
        run_versions: dict[str, set[int]] = {}
        for item in predictions:
            assert item["model_name"] == model, (model, item)
            assert item["airflow_run_id"] == writer[item["entity_id"]], (model, item)
            run_versions.setdefault(item["airflow_run_id"], set()).add(int(item["model_version"]))
        for run_id, held in run_versions.items():
            assert len(held) == 1 and held <= versions[model], (model, run_id, held, versions[model])
        assert run_versions[runs[model][0]] == {1}, (model, run_versions)


def check_ledger(url: str, api: AirflowApi, runs: dict[str, list[str]]) -> None:
    """The cost ledger on PostgreSQL: every Driftline task try of a model's runs, under its own model only.

    Each try's callback writes from its own task process, both models' at once, the first ones
    while the ledger's tables are created.
    """
    from driftline.cost.ledger import Ledger

    ledger = Ledger(url)
    assert sorted(ledger.models()) == sorted(MODELS)
    for model in MODELS:
        rows = ledger.entries(model=model)
        keyed = [
            (r["dag_id"], r["run_id"], r["task_id"], r["map_index"], r["try_number"], r["kind"]) for r in rows
        ]
        assert len(keyed) == len(set(keyed)), f"{model}: duplicate ledger rows"
        model_runs = [(f"driftline__{model}", run_id) for run_id in runs[model]]
        model_runs += [
            (f"driftline__{model}__rollback", run_id) for run_id in runs.get(f"{model}__rollback", [])
        ]
        assert {(r["dag_id"], r["run_id"]) for r in rows} == set(model_runs), (model, rows[:3])
        for dag_id, run_id in model_runs:
            recorded = {r["task_id"] for r in rows if r["run_id"] == run_id}
            succeeded = {
                task_id
                for task_id, ti in api.tasks(dag_id, run_id).items()
                if ti["state"] == "success" and ti.get("operator") != "EmptyOperator"
            }
            assert recorded == succeeded, (
                model,
                run_id,
                sorted(succeeded - recorded),
                sorted(recorded - succeeded),
            )
            assert ledger.run_totals(model, run_id)["total"] > 0, (model, run_id)


# --- the test ------------------------------------------------------------------------------------


@pytest.mark.timeout(2400)
def test_two_models_and_a_rollback_run_concurrently_on_postgres(tmp_path: Path) -> None:
    root = tmp_path
    write_project(root)
    data = root / "driftline" / "data"
    write_data(data)
    ports = {"airflow": free_port(), "mlflow": free_port(), "moto": free_port()}
    procs = Processes(root / "component-logs")
    with databases("airflow", "mlflow", "ledger") as dbs:
        env = airflow_env(root, dbs, ports)
        migrate = subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=900
        )
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
        try:
            procs.start("moto", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(ports["moto"])], env)
            # One worker: uvicorn's multi-worker supervisor kills a worker whose health ping is late,
            # which on a loaded machine restarted MLflow's workers in a loop (as `make up` does: 1).
            # No job runner: MLflow's GenAI jobs (online scoring, trace archival) are not used here.
            procs.start(
                "mlflow",
                [
                    *(str(BIN / "mlflow"), "server", "--backend-store-uri", dbs["mlflow"]),
                    *("--artifacts-destination", str(root / "mlflow-artifacts")),
                    *("--host", "127.0.0.1", "--port", str(ports["mlflow"]), "--workers", "1"),
                ],
                {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            )
            airflow = str(BIN / "airflow")
            api_args = ["api-server", "--host", "127.0.0.1", "--port", str(ports["airflow"])]
            procs.start("api-server", [airflow, *api_args], env)
            procs.start("scheduler", [airflow, "scheduler", "--skip-serve-logs"], env)
            procs.start("dag-processor", [airflow, "dag-processor"], env)
            procs.start("triggerer", [airflow, "triggerer", "--skip-serve-logs"], env)
            mlflow_uri = f"http://127.0.0.1:{ports['mlflow']}"
            wait_for("moto", lambda: answers(f"http://127.0.0.1:{ports['moto']}/moto-api/"), 300, procs)
            wait_for("MLflow", lambda: answers(f"{mlflow_uri}/health"), 300, procs)
            health = f"http://127.0.0.1:{ports['airflow']}/api/v2/monitor/health"
            wait_for("Airflow's API server", lambda: answers(health), 300, procs)
            api = AirflowApi(ports["airflow"])
            dag_ids = {f"driftline__{m}" for m in MODELS} | {f"driftline__{m}__rollback" for m in MODELS}
            wait_for("the DAGs to be parsed", lambda: dag_ids <= api.dag_ids(), 600, procs)

            runs = {m: [f"pg__{m}__{day}" for day in SCORED[m]] for m in MODELS}
            runs["churn__rollback"] = ["pg__churn__rollback"]
            churn1, churn2 = (("driftline__churn", r) for r in runs["churn"])
            retention1, retention2 = (("driftline__retention", r) for r in runs["retention"])
            rollback = ("driftline__churn__rollback", runs["churn__rollback"][0])

            # 1. both models' first day at once: each trains, registers and promotes v1
            api.trigger(*churn1, logical_date(SCORED["churn"][0]), {})
            api.trigger(*retention1, logical_date(SCORED["retention"][0]), {})
            phase1 = wait_runs(api, procs, root, [churn1, retention1])
            for key in (churn1, retention1):
                gate = api.xcom(*key, "evaluate_gate")
                assert gate["decision"] == "promoted" and gate["challenger"]["version"] == 1, (key, gate)

            # 2. churn's drift day and retention's forced retrain at once; churn's rollback as soon as
            #    churn's gate has promoted v2, while both pipelines are still running
            api.trigger(*churn2, logical_date(SCORED["churn"][1]), {})
            api.trigger(*retention2, logical_date(SCORED["retention"][1]), {"force_retrain": True})
            wait_task(api, procs, root, churn2, "evaluate_gate")
            gate = api.xcom(*churn2, "evaluate_gate")
            assert gate["decision"] == "promoted" and gate["challenger"]["version"] == 2, gate
            api.trigger(*rollback, None, {"reason": "concurrency test: back to v1 while both models run"})
            phase2 = wait_runs(api, procs, root, [churn2, retention2, rollback])

            # the runs ran at the same time, not one after the other
            assert overlapping(phase1[churn1], phase1[retention1]), phase1
            assert overlapping(phase2[churn2], phase2[retention2]), phase2
            assert overlapping(phase2[rollback], phase2[churn2]) or overlapping(
                phase2[rollback], phase2[retention2]
            ), phase2

            moved = api.xcom(*rollback, "rollback")
            assert moved["changed"] is True and (moved["version"], moved["previous"]) == (1, 2), moved
            aliases, versions = check_mlflow(mlflow_uri, api, runs)
            assert aliases["churn"] == {"champion": 1, "previous-champion": 2}, aliases
            retention_gate = api.xcom(*retention2, "evaluate_gate")
            assert aliases["retention"]["champion"] == (2 if retention_gate["decision"] == "promoted" else 1)
            check_dynamodb(f"http://127.0.0.1:{ports['moto']}", data, runs, versions)
            check_ledger(dbs["ledger"], api, runs)
        finally:
            procs.stop()
