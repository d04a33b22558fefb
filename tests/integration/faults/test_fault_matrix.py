"""Every step converges after a fault at any external call: the matrix of steps x injection points.

For each step a fault-free run gives the expected end state and the number of external calls N.
Then for every k in 1..N and both modes (the k-th call fails before it runs / after it took effect),
a fresh copy of the starting state runs the step with that fault, then once more without (the
retry), and the end state (aliases, audit trail, model versions and their tags, snapshot files and
manifests, the quarantine ledger, alerts) and the step's result are compared with the fault-free
run's. MLflow is a SQLite-backed store (`MlflowClient` on `sqlite:///`); the registry lock runs with
a short lease so a lock left behind by a "killed" try expires within seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from harness import (
    MODES,
    Cell,
    Faults,
    InjectedFault,
    audit_problems,
    diff,
    faulty_systems,
    format_matrix,
    registry_state,
    scrub,
    store_state,
)
from registry_helpers import log_training_run, registry_config, synthetic_frame

pytestmark = pytest.mark.slow
TTL = 6.0
DAG = "driftline__faults"


@dataclass
class Lab:
    root: Path
    uri: str
    strong: dict[str, Any]
    weak: dict[str, Any]
    evaluation: dict[str, Any]
    failing_report: Any
    passing_report: Any
    versions: dict[str, dict[str, Any]]  # "strong"/"weak": what create_model_version needs


def _policy() -> Any:
    from driftline.registry.retry import RetryPolicy

    return RetryPolicy(attempts=2, backoff=0.01, budget=2.0, request_timeout=1.0)


_HOOKS: dict[str, Any] = {}


def _hook(lab: Lab) -> Any:
    """One hook (one MlflowClient, one SQLAlchemy engine) for every cell: a new store per cell is slow."""
    from driftline.mlflow_store import MlflowStore

    if lab.uri not in _HOOKS:
        _HOOKS[lab.uri] = MlflowStore(lab.uri)
    return _HOOKS[lab.uri]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    import os

    from driftline.data.snapshots import mark, snapshot_uri, write_snapshot
    from driftline.validation.gate import validate_frame

    os.environ.setdefault("DRIFTLINE_REGISTRY_CLOCK_SKEW", "0.5")  # the short lease below needs it
    root = tmp_path_factory.mktemp("faults")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    from driftline.mlflow_store import MlflowStore

    hook = MlflowStore(uri)
    strong = log_training_run(hook, "faults", seed=0, run_id="scheduled__strong")
    weak = log_training_run(hook, "faults", weak=True, seed=1, run_id="scheduled__weak")
    df = synthetic_frame()
    ref = write_snapshot(df, snapshot_uri(str(root / "eval"), "faults", "r", "training_window"))
    evaluation = mark(ref, "validated").to_dict()
    config = registry_config("faults")
    bad = df.assign(x1=None)
    versions = {}
    for label, training in (("strong", strong), ("weak", weak)):
        version = _register(hook, "faults_template", training, f"template_{label}")
        mv = hook.client.get_model_version("faults_template", str(version))
        model_id = mv.source.removeprefix("models:/") if mv.source.startswith("models:/m-") else None
        tags = {k: v for k, v in dict(mv.tags).items() if not k.startswith("airflow.")}
        versions[label] = {"source": mv.source, "run_id": mv.run_id, "tags": tags, "model_id": model_id}
    return Lab(
        root, uri, strong, weak, evaluation, validate_frame(bad, config), validate_frame(df, config), versions
    )


@pytest.fixture(autouse=True)
def short_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLINE_REGISTRY_CLOCK_SKEW", "0.5")


# --- the steps: setup (fault-free) and action (the step itself) -------------------------------


def _register(hook: Any, name: str, training: dict[str, Any], run_id: str) -> int:
    from driftline.registry.registration import register_training_run

    out = register_training_run(
        hook, registry_config(name), training, dag_id=DAG, run_id=run_id, policy=_policy(), lock_ttl=TTL
    )
    return int(out["version"])


@dataclass
class Step:
    name: str
    setup: Callable[[Lab, Any, str, Path], dict[str, Any]]
    action: Callable[[Lab, Any, str, Path, dict[str, Any]], Any]


def _start(lab: Lab, hook: Any, name: str, versions: list[str], aliases: dict[str, int]) -> None:
    """A model with `versions` (template labels) and `aliases`, made by plain client calls (cheap)."""
    client = hook.client
    client.create_registered_model(name)
    for label in versions:
        v = lab.versions[label]
        client.create_model_version(
            name, v["source"], run_id=v["run_id"], tags=v["tags"], model_id=v["model_id"]
        )
    for alias, version in aliases.items():
        client.set_registered_model_alias(name, alias, str(version))


def setup_register(lab: Lab, hook: Any, name: str, root: Path) -> dict[str, Any]:
    _start(lab, hook, name, ["strong"], {"champion": 1})
    return {}


def act_register(lab: Lab, hook: Any, name: str, root: Path, ctx: dict[str, Any]) -> Any:
    from driftline.registry.registration import register_training_run

    return register_training_run(
        hook,
        registry_config(name),
        lab.weak,
        dag_id=DAG,
        run_id="scheduled__2",
        actor="airflow:faults/scheduled__2",
        policy=_policy(),
        lock_ttl=TTL,
    )


def setup_gate(lab: Lab, hook: Any, name: str, root: Path) -> dict[str, Any]:
    _start(lab, hook, name, ["weak", "strong"], {"champion": 1, "challenger": 2})
    return {}


def act_gate(lab: Lab, hook: Any, name: str, root: Path, ctx: dict[str, Any]) -> Any:
    from driftline.config.models import ModelConfig
    from driftline.registry.gate import run_gate

    config = registry_config(name).model_dump(mode="json", exclude_none=True)
    config["training"]["min_validation_rows"] = 100  # the synthetic frame holds 160 in its last 2 days
    return run_gate(
        hook,
        ModelConfig.model_validate(config),
        {"version": 2},
        lab.evaluation,
        actor="airflow:faults/scheduled__3",
        policy=_policy(),
        lock_ttl=TTL,
        op_key=f"{DAG}/scheduled__3",
    )


def setup_rollback(lab: Lab, hook: Any, name: str, root: Path) -> dict[str, Any]:
    _start(lab, hook, name, ["strong", "weak"], {"champion": 2, "previous-champion": 1})
    return {}


def act_rollback(lab: Lab, hook: Any, name: str, root: Path, ctx: dict[str, Any]) -> Any:
    from driftline.registry.promotion import rollback

    return rollback(
        hook,
        name,
        None,
        "v2 predicts badly",
        "airflow:rollback/manual__1 (user admin)",
        policy=_policy(),
        lock_ttl=TTL,
        op_key=f"{DAG}__rollback/manual__1",
    ).to_dict()


def _data_config(name: str, root: Path) -> Any:
    from driftline.config.models import ModelConfig

    data = registry_config(name).model_dump(mode="json", exclude_none=True)
    data["data"]["source"] = {"kind": "local", "path": str(root / "data" / "dt={ds}" / "part.parquet")}
    data["data"]["snapshot_root"] = str(root / "snapshots")
    return ModelConfig.model_validate(data)


def _context(task_id: str) -> dict[str, Any]:
    start = dt.datetime(2026, 1, 3, tzinfo=dt.UTC)
    return {
        "data_interval_start": start,
        "data_interval_end": start + dt.timedelta(days=1),
        "params": {},
        "ti": SimpleNamespace(dag_id=DAG, run_id="scheduled__2026-01-03", task_id=task_id, try_number=1),
    }


def setup_load(lab: Lab, hook: Any, name: str, root: Path) -> dict[str, Any]:
    df = synthetic_frame()
    day = df[df["ts"].dt.strftime("%Y-%m-%d") == "2026-01-03"]
    path = root / "data" / "dt=2026-01-03" / "part.parquet"
    path.parent.mkdir(parents=True)
    day.to_parquet(path, index=False)
    return {}


def act_load(lab: Lab, hook: Any, name: str, root: Path, ctx: dict[str, Any]) -> Any:
    from driftline.operators.load import LoadWindowOperator

    op = LoadWindowOperator(model_config=_data_config(name, root), task_id="load_current")
    return op.execute(_context("load_current"))


def _validate(lab: Lab, name: str, root: Path, ctx: dict[str, Any]) -> Any:
    from driftline.exceptions import ValidationFailedError
    from driftline.operators.validate import ValidateSnapshotOperator

    op = ValidateSnapshotOperator(model_config=_data_config(name, root), snapshot=ctx["raw"], task_id="v")
    try:
        return op.execute(_context("validate_current"))
    except ValidationFailedError as exc:
        return f"ValidationFailedError: {exc}"


def setup_validate(lab: Lab, hook: Any, name: str, root: Path) -> dict[str, Any]:
    setup_load(lab, hook, name, root)
    return {"raw": act_load(lab, hook, name, root, {})}


def act_validate_pass(lab: Lab, hook: Any, name: str, root: Path, ctx: dict[str, Any]) -> Any:
    return _validate(lab, name, root, ctx)


def act_quarantine(lab: Lab, hook: Any, name: str, root: Path, ctx: dict[str, Any]) -> Any:
    return _validate(lab, name, root, ctx)


def setup_decide(lab: Lab, hook: Any, name: str, root: Path) -> dict[str, Any]:
    return {}


def act_decide(lab: Lab, hook: Any, name: str, root: Path, ctx: dict[str, Any]) -> Any:
    """The retrain decision and its monitoring record (an MLflow run per Airflow run)."""
    from airflow.sdk.execution_time.context import OutletEventAccessors
    from driftline.operators.retrain import RetrainDecisionOperator

    reason = "not evaluated: no champion (no reference data)"
    drift = {
        "champion": None,
        "data_drift": {"evaluated": False, "reason": reason},
        "concept_drift": {"evaluated": False, "drifted": None, "reason": reason},
    }
    config = _data_config(name, root)
    op = RetrainDecisionOperator(task_id="decide_retrain", model_config=config, drift=drift)
    op.do_branch = lambda context, branch: branch  # type: ignore[method-assign]  # skipping needs a DAG run
    xcom: dict[str, Any] = {}
    context = {**_context("decide_retrain"), "outlet_events": OutletEventAccessors()}
    context["ti"].xcom_push = lambda key, value: xcom.__setitem__(key, value)
    branch = op.execute(context)
    return {"branch": branch, "decision": {k: v for k, v in xcom["decision"].items() if k != "mlflow_run_id"}}


def monitoring_state(client: Any, name: str) -> list[dict[str, Any]]:
    """The live (not deleted) monitoring runs of model `name`: status, tags, params, metrics."""
    from driftline.operators.drift_records import monitoring_experiment

    experiment = client.get_experiment_by_name(monitoring_experiment(name))
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id])
    keep = ("airflow.", "driftline.")
    return sorted(
        (
            {
                "status": r.info.status,
                "tags": scrub({k: v for k, v in r.data.tags.items() if k.startswith(keep)}),
                "params": dict(r.data.params),
                "metrics": dict(r.data.metrics),
            }
            for r in runs
        ),
        key=lambda r: json.dumps(r, sort_keys=True),
    )


STEPS = [
    Step("register", setup_register, act_register),
    Step("gate", setup_gate, act_gate),
    Step("rollback", setup_rollback, act_rollback),
    Step("load", setup_load, act_load),
    Step("validate", setup_validate, act_validate_pass),
    Step("quarantine", setup_validate, act_quarantine),
    Step("decide", setup_decide, act_decide),
]


# --- running a cell -------------------------------------------------------------------------


def run_cell(
    lab: Lab, step: Step, k: int | None, mode: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Faults, dict[str, Any], list[str], list[Any]]:
    """Fresh state, the step with a fault at call k, then a retry; (faults, end state, errors, alerts)."""
    from driftline.validation import gate as validation_gate

    name = f"m_{uuid.uuid4().hex[:10]}"
    root = lab.root / name
    root.mkdir()
    hook = _hook(lab)
    report = lab.failing_report if step.name == "quarantine" else lab.passing_report
    monkeypatch.setattr(validation_gate, "validate_frame", lambda df, config: report)
    from driftline.hooks.mlflow import MlflowHook

    monkeypatch.setattr(MlflowHook, "store", property(lambda self: hook))  # the decide step's hook
    monkeypatch.setattr(MlflowHook, "client", property(lambda self: hook.client))
    ctx = step.setup(lab, hook, name, root)
    faults = Faults(k, mode)
    errors: list[str] = []
    result: Any = None
    try:
        with faulty_systems(monkeypatch, faults, [hook]):
            try:
                result = step.action(lab, hook, name, root, ctx)
            except InjectedFault:
                faults.disarm()
                result = step.action(lab, hook, name, root, ctx)  # the retry
    except Exception as exc:  # the retry did not converge
        errors.append(f"{type(exc).__name__}: {exc}")
    delivered = faults.alerts
    state: dict[str, Any] = {"result": scrub(result)}
    if step.name in ("register", "gate", "rollback"):
        state["registry"] = registry_state(hook.client, name)
    elif step.name == "decide":
        state["monitoring"] = monitoring_state(hook.client, name)
    else:
        state["store"] = store_state(root / "snapshots")
        state["alerts"] = sorted({(e.kind, e.details.get("quarantine")) for e in delivered})
    text = json.dumps(state, default=str).replace(str(root), "<root>").replace(name, "<model>")
    return faults, json.loads(text), errors, delivered


@pytest.mark.timeout(1800)  # about 30 s (load) to 5 min (gate) per step on 2 busy cores
@pytest.mark.parametrize("step", STEPS, ids=[s.name for s in STEPS])
def test_step_converges_after_a_fault_at_any_external_call(lab, step, monkeypatch, capsys):
    """One step's rows of the matrix: every k, both modes; every injected fault must converge."""
    cells: list[Cell] = []
    clean, expected, errors, delivered = run_cell(lab, step, None, "before", monkeypatch)
    assert not errors, (step.name, errors)
    assert not audit_problems(expected.get("registry", {})), (step.name, expected)
    for mode in MODES:
        for k in range(1, clean.calls + 1):
            faults, actual, errors, sent = run_cell(lab, step, k, mode, monkeypatch)
            problems = errors + audit_problems(actual.get("registry", {})) + diff(expected, actual)
            # alerts are delivered at least once: a repeat is allowed only when the fault hit
            # between the delivery and the record that it went out
            at = faults.names[k - 1] if faults.fired else ""
            lost_answer = mode == "after" and at == "alert.emit"
            marker_lost = (
                mode == "before"
                and at == "store.write_bytes"
                and faults.names[k - 2 : k - 1] == ["alert.emit"]
            )
            if len(sent) > len(delivered) and not (lost_answer or marker_lost):
                problems.append(f"{len(sent)} alerts delivered, expected {len(delivered)}")
            cells.append(Cell(step.name, k, mode, faults.fired, not problems, at, problems))
    matrix = format_matrix(cells)
    with capsys.disabled():
        print("\n" + matrix)
    assert all(c.converged for c in cells if c.fired), matrix
