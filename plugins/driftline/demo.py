"""`make demo`: the example churn pipeline, end to end, on embedded defaults.

Generates the example data, prepares Airflow's SQLite database, then runs the real
`driftline__churn` DAG with `dag.test()` for a few days that show each behaviour:
day 1 trains because no champion exists, a quiet day keeps the champion, a corrupt day is
quarantined, and the drift day retrains. Then the A/B act: the config's `ab_test` is switched on
(a copy of the example config under the demo's home), a retrained challenger passes the gate and
starts an A/B experiment instead of being promoted, and the following days score every customer
by its arm (champion, challenger, no_model holdout). This prints what every stage did.

The demo keeps its state apart from the user's: everything it writes lives under
`DRIFTLINE_HOME/demo/` (its MLflow store, snapshots, alerts, its own Airflow home and SQLite
database, Airflow's task logs under `logs/demo/`), and each demo resets only that folder. The
user's models, MLflow store, snapshots and Airflow database in `DRIFTLINE_HOME` are never touched;
the generated example data (`DRIFTLINE_DATA`, default `DRIFTLINE_HOME/data`) is shared, made once,
and never deleted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

from driftline.settings import data_root, driftline_home, project_root

DAG_ID = "driftline__churn"
ROLLBACK_DAG_ID = "driftline__churn__rollback"
AB_EVALUATION_DAG_ID = "driftline__churn__ab_evaluation"
ROLLBACK_PARAMS = {
    "target_version": None,
    "reason": "demo: support tickets rose after the new model went live",
}
_LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}T")
CORRUPT_DAY = dt.date(2026, 1, 17)
# (day scored, what it shows, trigger params)
SCENARIO: list[tuple[dt.date, str, dict[str, Any]]] = [
    (dt.date(2026, 1, 15), "day 1: no champion yet", {}),
    (dt.date(2026, 1, 16), "a quiet day", {}),
    (CORRUPT_DAY, "a corrupt batch arrives: it is quarantined, the run fails, nothing downstream runs", {}),
    (dt.date(2026, 1, 21), "the drift day", {}),
    (dt.date(2026, 1, 25), "drift persists: the retrained challenger has seen more of the new data", {}),
]


# The A/B act (ab_test switched on): a forced retrain on drifted data passes the gate and starts
# an experiment against the rolled-back champion; the next days score both arms and the holdout.
AB_SCENARIO: list[tuple[dt.date, str, dict[str, Any]]] = [
    (
        dt.date(2026, 1, 26),
        "A/B on: a retrained challenger passes the gate and starts an experiment instead of a promotion",
        {"force_retrain": True},
    ),
    (dt.date(2026, 1, 27), "the experiment runs: every customer is scored by its arm", {}),
    (dt.date(2026, 1, 28), "a third day of outcomes: enough evidence to decide", {}),
]


def _ensure_data() -> None:
    if any((data_root() / "churn").glob("dt=*")) and any((data_root() / "churn_outcomes").glob("dt=*")):
        return
    print(f"generating example data under {data_root()} ...")
    sys.path.insert(0, str(project_root() / "include"))
    import generate_churn_data as gen
    from generate_churn_data import generate

    generate(
        data_root(),
        gen.DEFAULT_START,
        gen.DEFAULT_DAYS,
        drift_day=gen.DEFAULT_DRIFT_DAY,
        corrupt_day=gen.DEFAULT_CORRUPT_DAY,
    )


DEMO_FOLDER = "demo"
# The demo's own state under its home; reset (deleted) at the start of every demo.
DEMO_STATE = ("mlflow", "snapshots", "alerts", "airflow", "logs", "cost")


def isolate(env: MutableMapping[str, str] | None = None) -> Path:
    """Point this process (before Airflow or MLflow is imported) at the demo's own state; returns its home.

    DRIFTLINE_HOME becomes `<DRIFTLINE_HOME>/demo`, with its own Airflow home and database and its
    own MLflow store (an exported MLFLOW_TRACKING_URI or `mlflow_default` connection of the user is
    not used); the example data stays where DRIFTLINE_DATA points.
    """
    env = os.environ if env is None else env
    user_home = Path(env.get("DRIFTLINE_HOME") or driftline_home()).resolve()
    if user_home.name == DEMO_FOLDER:  # already isolated (run twice in one process)
        return user_home
    data = Path(env.get("DRIFTLINE_DATA") or user_home / "data").resolve()
    home = user_home / DEMO_FOLDER
    airflow_home = home / "airflow"
    env["DRIFTLINE_HOME"] = str(home)
    env["DRIFTLINE_DATA"] = str(data)
    env["AIRFLOW_HOME"] = str(airflow_home)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{airflow_home / 'airflow.db'}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    # The demo's registry is the embedded SQLite store under its home, chosen explicitly (without
    # this, a missing MLflow connection is an error: driftline.hooks.mlflow).
    env["DRIFTLINE_MLFLOW_LOCAL_STORE"] = "1"
    env.pop("MLFLOW_REGISTRY_URI", None)
    env.pop("AIRFLOW_CONN_MLFLOW_DEFAULT", None)
    return home


def reset_demo_state(home: Path) -> list[Path]:
    """Start every demo from the same story: delete the demo's own state, and only that.

    Returns what was deleted. Refuses any folder that is not a demo home, so a mistake here can
    never delete a user's MLflow store or snapshots.
    """
    import shutil

    if home.name != DEMO_FOLDER:
        raise ValueError(
            f"refusing to reset {home}: the demo's state lives in a folder named {DEMO_FOLDER!r}"
        )
    removed = []
    for name in DEMO_STATE:
        path = home / name
        if path.exists():
            shutil.rmtree(path)
            removed.append(path)
    (home / "mlflow").mkdir(parents=True, exist_ok=True)
    return removed


def _ensure_airflow_db() -> None:
    airflow = str(Path(sys.executable).with_name("airflow"))
    log = driftline_home() / "logs" / "airflow-db-migrate.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        subprocess.run([airflow, "db", "migrate"], stdout=out, stderr=subprocess.STDOUT, check=True)  # noqa: S603 - the venv's own airflow binary; fixed arguments


@contextlib.contextmanager
def _quiet(log_path: Path) -> Iterator[None]:
    """Send everything written to stdout/stderr (Airflow's task logs) to a file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _load_dags() -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(project_root() / "dags"), safe_mode=True)
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {json.dumps(bag.import_errors, indent=2)}")
    missing = {DAG_ID, ROLLBACK_DAG_ID} - set(bag.dags)
    if missing:
        raise SystemExit(f"{sorted(missing)} not found; DAGs: {sorted(bag.dags)}")
    for dag_id in (DAG_ID, ROLLBACK_DAG_ID, AB_EVALUATION_DAG_ID):
        if dag_id not in bag.dags:  # the A/B evaluation DAG exists only with ab_test enabled
            continue
        for task in bag.dags[dag_id].tasks:  # dag.test() would sit out each retry delay: fail at once
            task.retries = 0
    return bag.dags


def _state(ti: Any) -> str:
    return str(ti.state.value if hasattr(ti.state, "value") else ti.state)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _data_drift_text(dd: dict[str, Any]) -> str:
    if dd.get("evaluated") is False:
        return f"data drift not evaluated ({dd.get('reason')})"
    share, limit = dd.get("drift_share"), dd.get("drift_share_threshold")
    verdict = "DATASET DRIFT" if dd.get("dataset_drift") else "no dataset drift"
    return f"{verdict}: {_fmt(share)} of columns drifted (threshold {limit}) {dd.get('drifted_columns', [])}"


def _concept_text(cd: dict[str, Any]) -> str:
    if not cd.get("evaluated"):
        return f"concept drift not evaluated ({cd.get('reason')})"
    verdict = "CONCEPT DRIFT" if cd.get("drifted") else "no concept drift"
    interval = cd.get("interval") or {}
    bounds = f", interval [{_fmt(interval.get('lower'))}, {_fmt(interval.get('upper'))}]" if interval else ""
    return (
        f"{verdict}: live {cd.get('metric')} {_fmt(cd.get('live_value'))} vs "
        f"{_fmt(cd.get('reference_value'))} at registration (drop {_fmt(cd.get('drop'))}{bounds}, tolerance {cd.get('tolerance')})"
    )


def _target_text(td: dict[str, Any], kind: str) -> str:
    if not td.get("evaluated"):
        return f"{kind} drift not evaluated ({td.get('reason')})"
    verdict = f"{kind.upper()} DRIFT" if td.get("drifted") else f"no {kind} drift"
    return f"{verdict}: {td.get('reason')}"


def _drift_lines(r: dict[str, Any]) -> list[str]:
    """check_drift's lines: data and concept drift, then label drift, prediction drift and the report."""
    lines = [f"  {'check_drift':18s} {_data_drift_text(r.get('data_drift') or {})}"]
    constant = (r.get("data_drift") or {}).get("constant_in_window") or []
    if constant:
        lines[0] += f"; constant in window (not counted): {constant}"
    lines.append(f"  {'':18s} {_concept_text(r.get('concept_drift') or {})}")
    for kind in ("label", "prediction"):
        lines.append(f"  {'':18s} {_target_text(r.get(f'{kind}_drift') or {}, kind)}")
    report = r.get("report") or {}
    if report:
        built = (
            f"built ({report.get('bytes')} bytes, {report.get('seconds')} s)"
            if report.get("built")
            else "not built"
        )
        lines.append(f"  {'':18s} drift report {built}: {report.get('why')}")
    return lines


def describe(task_id: str, state: str, result: Any, error: str | None) -> list[str]:
    """Human lines for one task of a demo run."""
    if state in {"skipped", "upstream_failed", "removed"} or (
        state == "success" and result is None and task_id != "keep_champion"
    ):
        return [f"  {task_id:18s} {state}"]
    if state == "failed":
        lines = [f"  {task_id:18s} FAILED"]
        lines += [f"      {line}" for line in (error or "see the log").splitlines()[:12]]
        return lines
    r = result or {}
    facts = r.get("facts", {}) if isinstance(r, dict) else {}
    if task_id.startswith("load_"):
        text = f"{r.get('rows')} rows, window {facts.get('window_start', '?')[:10]} .. {facts.get('window_end', '?')[:10]} ({facts.get('window_kind')}), {len(facts.get('partitions', []))} partition(s)"
        for item in facts.get("quarantined_excluded") or []:
            text += f"; left out {item['rows']} rows of quarantined batch {item['start'][:10]}"
    elif task_id.startswith("validate_"):
        v = facts.get("validation", {})
        text = f"passed: {v.get('evaluated', v.get('expectations', '?'))} expectations, {v.get('warned', 0)} warning(s); snapshot {r.get('sha256', '')[:12]}"
    elif task_id == "check_drift":
        return _drift_lines(r)
    elif task_id == "decide_retrain":
        text = f"retrain={r.get('retrain')} reasons={r.get('reasons')} suppressed={r.get('suppressed')}"
        held = [note for note in r.get("notes") or [] if note.startswith("held by drift.persistence")]
        if held:  # drift seen, but not yet in k of the last n runs
            text += f"\n{'':21s}{held[0].split('): ')[0]})"
    elif task_id == "train":
        metrics = {k: round(v, 4) for k, v in (r.get("metrics") or {}).items() if isinstance(v, int | float)}
        text = f"MLflow run {r.get('run_id')} metrics {metrics}"
    elif task_id == "register":
        text = f"registered {r.get('name')} version {r.get('version')} (alias challenger)"
    elif task_id == "evaluate_gate" and r.get("experiment"):
        text = f"{r.get('decision')}: {(r.get('experiment') or {}).get('reason')}"
    elif task_id == "keep_champion":
        text = "no retrain: champion kept"
    elif task_id == "evaluate_gate":
        text = f"{r.get('decision')}: {r.get('reason')}"
    elif task_id == "score_and_write":
        text = (
            f"wrote {r.get('written')} predictions of {r.get('model_name')} v{r.get('model_version')} "
            f"to DynamoDB table {r.get('table')} ({r.get('consumed_wcu')} WCU, {r.get('retries')} retries)"
        )
        if r.get("arms"):
            text += (
                f"; A/B experiment #{r.get('experiment_id')}: items per arm {r.get('arms')} "
                f"(challenger = v{r.get('challenger_version')})"
            )
    elif task_id == "publish_summary":
        text = "summary published"
    else:
        text = json.dumps(r, default=str)[:200]
    return [f"  {task_id:18s} {text}"]


def run_day(dag: Any, day: dt.date, params: dict[str, Any], log_path: Path) -> tuple[str, list[str]]:
    logical = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    with _quiet(log_path):
        dagrun = dag.test(logical_date=logical, run_conf=params or None)
    lines = []
    order = [t.task_id for t in dag.topological_sort()] if hasattr(dag, "topological_sort") else None
    tis = {ti.task_id: ti for ti in dagrun.get_task_instances()}
    for task_id in order or sorted(tis):
        ti = tis.get(task_id)
        if ti is None:
            continue
        state = _state(ti)
        result = ti.xcom_pull(task_ids=task_id) if state == "success" else None
        if task_id == "decide_retrain" and state == "success":
            result = ti.xcom_pull(task_ids=task_id, key="decision")
        error = _task_error(log_path, task_id) if state == "failed" else None
        lines += describe(task_id, state, result, error)
    return str(dagrun.state), lines


def _show_day(dag: Any, day: dt.date, title: str, params: dict[str, Any], log_path: Path) -> str:
    """Run one day of the pipeline (a fresh log file), print what each step did; returns the run state."""
    if log_path.exists():
        log_path.unlink()
    print(f"\n== {day.isoformat()} — {title}" + (f" (params {params})" if params else ""))
    state, lines = run_day(dag, day, params, log_path)
    print("\n".join(lines))
    print(f"  -> run {state} (log: {log_path})")
    return state


_RAISED = re.compile(r"^(?:[A-Za-z_]\w*\.)*([A-Z]\w*): \S")  # a traceback's last line: pkg.mod.Error: msg


def _task_error(log_path: Path, task_id: str) -> str | None:
    """The exception a failed task raised, from the run's log: `ErrorClass: message`.

    Searched in the task's own part of the log (`[DAG TEST] running task ... .<task_id> ...` up to
    `end task task_id=<task_id>`); the last Driftline error there, wherever it is defined (e.g.
    driftline.data.frames.SourceSchemaError), else the last exception of any library.
    """
    lines = log_path.read_text(errors="replace").splitlines()
    begins = [
        i for i, line in enumerate(lines) if "[DAG TEST] running task" in line and f".{task_id} " in line
    ]
    if begins:
        ends = [
            i for i, line in enumerate(lines) if f"end task task_id={task_id} " in line and i > begins[-1]
        ]
        lines = lines[begins[-1] : ends[0] if ends else len(lines)]
    raised = [i for i, line in enumerate(lines) if _RAISED.match(line) and not _LOG_LINE.match(line)]
    if not raised:
        return None
    ours = [i for i in raised if lines[i].startswith("driftline.")]
    at = (ours or raised)[-1]
    found = _RAISED.match(lines[at])
    message = [lines[at][found.start(1) :] if found else lines[at]]
    for line in lines[at + 1 :]:
        if _LOG_LINE.match(line) or not line.strip():
            break
        message.append(line)
    return "\n".join(message)


def _rollback(dag: Any, log_path: Path) -> int:
    """Trigger the rollback DAG as a user would from the UI; 1 when it did not succeed."""
    if log_path.exists():
        log_path.unlink()
    print(f"\n== a user triggers {ROLLBACK_DAG_ID} with params {ROLLBACK_PARAMS}")
    with _quiet(log_path):
        dagrun = dag.test(run_conf=ROLLBACK_PARAMS)
    [ti] = dagrun.get_task_instances()
    state = _state(ti)
    result = ti.xcom_pull(task_ids=ti.task_id) if state == "success" else None
    if result:
        print(
            f"  rollback           champion v{result.get('previous')} -> v{result.get('version')}: {result.get('reason')}"
        )
    else:
        print(f"  rollback           {state}: {_task_error(log_path, ti.task_id) or 'see the log'}")
    print(f"  -> run {dagrun.state} (log: {log_path})")
    return 0 if state == "success" else 1


def enable_ab_test(home: Path, source: Path) -> Path:
    """A copy of the example config with `ab_test.enabled: true` in the demo's own configs folder."""
    import yaml

    data = yaml.safe_load(source.read_text())
    data["ab_test"]["enabled"] = True
    folder = home / "configs"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    target.write_text(
        f"# make demo: {source} with ab_test switched on\n" + yaml.safe_dump(data, sort_keys=False)
    )
    return folder


def _print_experiments() -> None:
    """The model's A/B experiments as the store keeps them (driftline.experiments.store)."""
    from driftline.experiments.store import list_experiments
    from driftline.hooks.mlflow import MlflowHook

    experiments = list_experiments(MlflowHook().client, "churn")
    print(f"\n== A/B experiments of 'churn' (registered-model tags driftline.ab.*): {len(experiments)}")
    for exp in experiments:
        print(f"  {exp.describe()}; salt {exp.salt!r}, no_model default {exp.no_model_default!r}")
        for waiting in exp.waiting:
            print(f"    waiting: challenger v{waiting['version']}")
        for decision in exp.decisions:
            print(
                f"    decision {decision.get('seq')}: {decision.get('action')} {decision.get('reason', '')}"
            )
        if exp.end_reason:
            print(f"    ended: {exp.end_reason}")


def _print_registry() -> None:
    """The model's aliases and their audit trail (what `driftline history churn` prints)."""
    from driftline.hooks.mlflow import MlflowHook
    from driftline.registry.audit import format_history, history
    from driftline.registry.champion import read_aliases

    hook = MlflowHook()
    print(f"\n== registry: MLflow model 'churn' aliases {read_aliases(hook, 'churn')}")
    print(format_history(history(hook, "churn")))


@contextlib.contextmanager
def _dynamodb() -> Iterator[str]:
    """The DynamoDB endpoint the pipeline writes to: `aws_default` when it is configured, else a
    moto server started here on a free loopback port (stopped at the end)."""
    if os.environ.get("AIRFLOW_CONN_AWS_DEFAULT"):
        yield json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"]).get("extra", {}).get("endpoint_url", "AWS")
        return
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
        {"conn_type": "aws", "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    )
    for name, value in (("AWS_ACCESS_KEY_ID", "demo"), ("AWS_SECRET_ACCESS_KEY", "demo")):
        os.environ.setdefault(name, value)
    try:
        yield endpoint
    finally:
        server.stop()
        del os.environ["AIRFLOW_CONN_AWS_DEFAULT"]


def _print_predictions(endpoint: str) -> None:
    """How many predictions the table holds, and one fetched through the predictions service."""
    import secrets

    from fastapi.testclient import TestClient

    from driftline.config import load_config
    from driftline.service.app import create_app
    from driftline.service.auth import digest
    from driftline.service.server import dynamodb_client, mlflow_champions

    config = load_config(project_root() / "dags" / "configs" / "churn.yaml")
    cfg = config.inference
    if cfg is None:
        return
    client = dynamodb_client(cfg)
    count, start = 0, None
    while True:
        kwargs: dict[str, Any] = {"TableName": cfg.table, "Select": "COUNT"}
        kwargs["FilterExpression"] = "attribute_exists(prediction)"  # leaves the run records out
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = client.scan(**kwargs)
        count += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    sample = client.scan(TableName=cfg.table, Limit=200, FilterExpression="attribute_exists(prediction)")[
        "Items"
    ]
    print(f"\n== predictions: {count} items in DynamoDB table {cfg.table} at {endpoint}")
    if not sample:
        return
    key = secrets.token_urlsafe(16)
    champions = mlflow_champions(
        {config.registered_model_name: config.registry.mlflow_conn_id},
        configs={config.registered_model_name: config},
    )
    app = create_app({"churn": config}, lambda c: client, frozenset({digest(key)}), champions)
    shown: set[str] = set()
    for raw in sample:  # one lookup per A/B arm found in the sample (champion only without one)
        arm = raw.get("arm", {}).get("S", "champion")
        if arm in shown:
            continue
        shown.add(arm)
        entity = raw[cfg.partition_key]["S"]
        response = TestClient(app).get(f"/v1/models/churn/predictions/{entity}", headers={"X-API-Key": key})
        print(f"  GET /v1/models/churn/predictions/{entity} -> {response.status_code} {response.json()}")


def _print_cost() -> None:
    """The example model's cost (every task try of the runs above) and ROI against no model."""
    from driftline.config import load_config
    from driftline.cost.ledger import Ledger
    from driftline.cost.report import collect, format_table
    from driftline.hooks.mlflow import MlflowHook

    config = load_config(project_root() / "dags" / "configs" / "churn.yaml")
    ledger = Ledger()
    print(f"\n== cost and ROI of churn (ledger {ledger.url})")
    rows = collect(ledger, {"churn": config.cost}, only="churn", client_for=lambda _m: MlflowHook().client)
    print("\n".join(f"  {line}".rstrip() for line in format_table(rows).splitlines()))


def main() -> None:
    with _dynamodb() as endpoint:
        _main(endpoint)


def _reset_predictions() -> None:
    """Drop the demo model's predictions table: the story starts with no predictions, as with no champion."""
    from driftline.config import load_config
    from driftline.inference.table import describe
    from driftline.service.server import dynamodb_client

    cfg = load_config(project_root() / "dags" / "configs" / "churn.yaml").inference
    if cfg is None:
        return
    client = dynamodb_client(cfg)
    if describe(client, cfg.table) is not None:
        client.delete_table(TableName=cfg.table)
        client.get_waiter("table_not_exists").wait(TableName=cfg.table)


def _ab_act(home: Path, logs: Path) -> int:
    """Switch the example's ab_test on (the demo's copy of the config), run the A/B days and, after
    each, the A/B evaluation DAG for the same day until it promotes the challenger."""
    root = project_root()
    folder = enable_ab_test(home, root / "dags" / "configs" / "churn.yaml")
    # the project stays where it is (else it would be derived from the demo's configs folder)
    os.environ.setdefault("DRIFTLINE_PROJECT_ROOT", str(root))
    os.environ["DRIFTLINE_CONFIGS"] = str(folder)
    print(f"\n== A/B tests switched on: the demo's config {folder / 'churn.yaml'} has ab_test.enabled: true")
    dags = _load_dags()
    dag, evaluation = dags[DAG_ID], dags[AB_EVALUATION_DAG_ID]
    failures = 0
    for day, title, params in AB_SCENARIO:
        state = _show_day(dag, day, title, params, logs / f"ab-{day.isoformat()}.log")
        failures += state != "success"
        action, failed = _evaluate_day(evaluation, day, logs / f"ab-evaluation-{day.isoformat()}.log")
        failures += failed
        if action == "promote":
            break
    else:
        print(f"  the experiment did not reach a decision in {len(AB_SCENARIO)} days")
        failures += 1
    _print_experiments()
    return failures


def _evaluate_day(dag: Any, day: dt.date, log_path: Path) -> tuple[str | None, int]:
    """Run the A/B evaluation DAG for `day` (dag.test()); its decision's action and 1 if the run failed."""
    if log_path.exists():
        log_path.unlink()
    print(f"  {AB_EVALUATION_DAG_ID} for {day.isoformat()}: outcomes since the experiment started")
    logical = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    with _quiet(log_path):
        dagrun = dag.test(logical_date=logical)
    tis = {ti.task_id: ti for ti in dagrun.get_task_instances()}
    action = None
    for task_id in ("evaluate_experiment", "promote_challenger", "close_experiment"):
        ti = tis.get(task_id)
        if ti is None:
            continue
        state = _state(ti)
        result = ti.xcom_pull(task_ids=task_id) if state == "success" else None
        if state == "failed":
            print(f"  {task_id:18s} failed: {_task_error(log_path, task_id) or 'see the log'}")
        elif result is None:
            continue  # skipped: nothing to promote or close yet
        elif task_id == "evaluate_experiment":
            action = str(result.get("action"))
            print(f"  {task_id:18s} {_decision_text(result.get('decision') or {})}")
        elif task_id == "promote_challenger":
            print(
                f"  {task_id:18s} champion v{result.get('previous')} -> v{result.get('version')} "
                f"(audit entries {_seqs(result.get('audit_seq'))})"
            )
        else:
            print(
                f"  {task_id:18s} experiment #{result.get('experiment')} {result.get('status')}: {result.get('reason')}"
            )
    print(f"  -> run {dagrun.state} (log: {log_path})")
    return action, int(str(dagrun.state) != "success")


def _seqs(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _pval(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _decision_text(d: dict[str, Any]) -> str:
    """One line of an A/B decision: action, always-valid p / log LR, effect [interval], n per arm, needed."""
    arms = d.get("arms") or {}
    n = ", ".join(f"{arm} {summary.get('n')}" for arm, summary in arms.items())
    text = str(d.get("action"))
    if d.get("p_value") is None:
        text += ": not tested yet (below min_samples_per_arm)"
    else:
        text += f": always-valid p = {_pval(d['p_value'])}, log LR = {_fmt(d.get('statistic'))}"
    if d.get("effect") is not None:
        text += f", effect {d['effect']:+.4f} [{_fmt(d.get('lower'))}, {_fmt(d.get('upper'))}]"
    text += f"; n {n or 'none yet'}"
    if d.get("samples_needed") is not None:
        text += f"; {d['samples_needed']} more outcomes needed"
    return text


def _main(endpoint: str) -> None:
    started = time.monotonic()
    user_home = driftline_home()
    home = isolate()
    print(f"Driftline demo — its own state in {home}, reset on every run")
    print(f"  (your models' MLflow store, snapshots and Airflow database in {user_home} are not touched)")
    reset_demo_state(home)
    _reset_predictions()
    _ensure_data()
    _ensure_airflow_db()
    dags = _load_dags()
    dag = dags[DAG_ID]
    logs = driftline_home() / "logs" / "demo"
    failures = 0
    for day, title, params in SCENARIO:
        state = _show_day(dag, day, title, params, logs / f"{day.isoformat()}.log")
        failures += state != "success" and day != CORRUPT_DAY
    failures += _rollback(dags[ROLLBACK_DAG_ID], logs / "rollback.log")
    failures += _ab_act(home, logs)
    _print_registry()
    _print_predictions(endpoint)
    _print_cost()
    print(f"\nDemo finished in {time.monotonic() - started:.0f}s. Its MLflow store: {home / 'mlflow'}")
    print(
        "Browse it: .venv/bin/mlflow ui --port 5001 --backend-store-uri "
        f"{os.environ['MLFLOW_TRACKING_URI']}  (`make up` serves your own store, not the demo's)"
    )
    _print_page()
    if failures:
        raise SystemExit(f"{failures} demo run(s) failed unexpectedly")


def _print_page() -> None:
    """Where the Driftline page in the Airflow UI shows this history (driftline.ui.sources: `demo`)."""
    from driftline.devstack import HOST, Ports

    base = f"http://{HOST}:{Ports.from_env().airflow}"
    print(
        "\n== the Driftline page: run `make up`, log in, then open Driftline in the navigation\n"
        f"  {base}/plugin/driftline  and pick 'Demo history (make demo)' at the top\n"
        f"  (this model's page directly: {base}/driftline/models/churn?source=demo)"
    )


if __name__ == "__main__":
    main()
