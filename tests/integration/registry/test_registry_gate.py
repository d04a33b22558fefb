"""The evaluation gate with real models on a real validated snapshot, and the three registry operators."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from driftline.registry.champion import get_champion, read_aliases
from driftline.registry.gate import run_gate
from driftline.registry.registration import register_training_run
from registry_helpers import log_training_run, registry_config, synthetic_frame


@pytest.fixture
def evaluation(snapshot_dir):
    from driftline.data.snapshots import mark, write_snapshot

    df = synthetic_frame(seed=11)
    ref = write_snapshot(df, str(snapshot_dir / "training.parquet"), {"window": "training"})
    return mark(ref, "validated").to_dict()


def _register(hook, config, run_id, weak, seed):
    training = log_training_run(hook, config.registered_model_name, run_id=run_id, weak=weak, seed=seed)
    return register_training_run(hook, config, training, dag_id="driftline__test", run_id=run_id)


def test_gate_promotes_first_then_keeps_the_better_champion(server_hook, model_name, evaluation):
    config = registry_config(model_name, min_score=0.6, min_improvement=0.01)
    good = _register(server_hook, config, "scheduled__1", False, 1)
    first = run_gate(server_hook, config, good, evaluation, actor="airflow:test/1")
    assert first["decision"] == "promoted"
    assert first["champion"] is None and first["challenger"]["score"] > 0.8
    assert "meets min_score 0.6" in first["reason"]
    assert read_aliases(server_hook, model_name) == {"champion": 1}

    weak = _register(server_hook, config, "scheduled__2", True, 2)
    second = run_gate(server_hook, config, weak, evaluation, actor="airflow:test/2")
    assert second["decision"] == "kept_champion"
    assert second["champion"]["version"] == 1
    assert second["challenger"]["score"] < second["champion"]["score"]
    assert f"{second['challenger']['score']:.6g}" in second["reason"]
    assert f"{second['champion']['score']:.6g}" in second["reason"]
    assert read_aliases(server_hook, model_name) == {"champion": 1, "challenger": 2}
    tags = server_hook.client.get_model_version(model_name, "2").tags
    assert tags["driftline.gate.decision"] == "kept_champion"
    assert tags["driftline.gate.champion_version"] == "1"
    # a retry of the first gate after its promotion is stable
    assert run_gate(server_hook, config, good, evaluation, actor="airflow:test/1")["decision"] == "promoted"


def test_a_backfill_gate_never_replaces_a_champion_promoted_from_newer_data(
    server_hook, model_name, evaluation
):
    """Runs overlap and backfills run late: the gate of an older data day that passes its comparison
    keeps the champion a newer day promoted (it was: promoted, so the older model won), both when
    it sees the newer promotion up front and when the newer one lands between its read and write."""
    import datetime as dt

    from driftline.registry.errors import StalePromotionError
    from driftline.registry.promotion import promote

    config = registry_config(model_name, min_score=0.0, min_improvement=0.0)
    march, feb = dt.datetime(2026, 3, 2, tzinfo=dt.UTC), dt.datetime(2026, 2, 2, tzinfo=dt.UTC)
    weak = _register(server_hook, config, "scheduled__2026-03-01", True, 5)
    newer = run_gate(server_hook, config, weak, evaluation, actor="airflow:test/mar", data_time=march)
    assert newer["decision"] == "promoted", newer
    good = _register(server_hook, config, "backfill__2026-02-01", False, 6)  # better, but older data
    older = run_gate(server_hook, config, good, evaluation, actor="airflow:test/feb", data_time=feb)
    assert older["decision"] == "kept_champion", older
    assert "was promoted from newer data (up to 2026-03-02" in older["reason"]
    assert read_aliases(server_hook, model_name)["champion"] == 1
    tags = server_hook.client.get_model_version(model_name, "2").tags
    assert tags["driftline.gate.decision"] == "kept_champion"
    # under the lock too: a promotion for older data is refused whoever calls it
    with pytest.raises(StalePromotionError, match="a run for older data never replaces it"):
        promote(server_hook, model_name, 2, 1, "late", "test", details={"data_time": feb.isoformat()})
    # the same data day (a re-run) and newer data still promote
    again = promote(
        server_hook, model_name, 2, 1, "same day", "test", details={"data_time": march.isoformat()}
    )
    assert again.changed and read_aliases(server_hook, model_name)["champion"] == 2


def test_gate_rejects_first_model_below_the_floor(server_hook, model_name, evaluation):
    config = registry_config(model_name, min_score=0.9)
    weak = _register(server_hook, config, "scheduled__1", True, 3)
    result = run_gate(server_hook, config, weak, evaluation, actor="a")
    assert result["decision"] == "rejected", result
    assert "misses min_score 0.9" in result["reason"]
    assert get_champion(server_hook, model_name) is None


def _context(dag_id="driftline__m", run_id="manual__1", params=None, user=None):
    from airflow.sdk.execution_time.context import OutletEventAccessors

    ti = SimpleNamespace(dag_id=dag_id, run_id=run_id, task_id="t", try_number=1)
    return {
        "ti": ti,
        "dag_run": SimpleNamespace(run_id=run_id, triggering_user_name=user),
        "params": params or {},
        "outlet_events": OutletEventAccessors(),
    }


def test_operators_register_gate_and_rollback(server_hook, model_name, evaluation, monkeypatch):
    import json

    from driftline.assets import champion_alias
    from driftline.operators.registry import (
        EvaluationGateOperator,
        RegisterModelOperator,
        RollbackOperator,
    )
    from driftline.registry.errors import RegistryInputError

    conn = "registry_tests_server"  # the operators reach the server through their connection only
    monkeypatch.setenv(
        "AIRFLOW_CONN_REGISTRY_TESTS_SERVER",
        json.dumps({"conn_type": "mlflow", "extra": {"tracking_uri": server_hook.tracking_uri}}),
    )
    config = registry_config(model_name)  # no floor: the weak first model becomes champion
    outs = []
    for n, weak in enumerate((True, False), start=1):
        training = log_training_run(server_hook, model_name, run_id=f"scheduled__{n}", weak=weak, seed=n)
        register = RegisterModelOperator(
            task_id="register", model_config=config, training=training, mlflow_conn_id=conn
        )
        ctx = _context(run_id=f"scheduled__{n}")
        registered = register.execute(ctx)
        assert register.execute(ctx) == registered  # idempotent retry
        gate = EvaluationGateOperator(
            task_id="evaluate_gate",
            model_config=config,
            registered=registered,
            evaluation=evaluation,
            mlflow_conn_id=conn,
        )
        assert gate.template_fields == ("registered", "evaluation")
        ctx = _context(run_id=f"scheduled__{n}")
        outs.append((gate.execute(ctx), ctx))
    (first, _), (second, second_ctx) = outs
    assert first["decision"] == "promoted" and second["decision"] == "promoted"
    assert second["champion"]["version"] == 1 and second["challenger"]["version"] == 2
    events = second_ctx["outlet_events"][champion_alias(model_name)].asset_alias_events
    assert [e.dest_asset_key.name for e in events] == [f"driftline.{model_name}.champion"]
    assert events[0].extra == {"version": 2, "previous": 1, "action": "promote"}

    rollback = RollbackOperator(task_id="rollback", model_config=config, mlflow_conn_id=conn)
    ctx = _context(
        "driftline__m__rollback", params={"target_version": None, "reason": "bad v2"}, user="admin"
    )
    out = rollback.execute(ctx)
    assert (out["version"], out["previous"], out["changed"], out["reason"]) == (1, 2, True, "bad v2")
    assert (
        ctx["outlet_events"][champion_alias(model_name)].asset_alias_events[0].extra["action"] == "rollback"
    )
    from driftline.registry.audit import history

    assert (
        history(server_hook, model_name)[-1].actor == "airflow:driftline__m__rollback/manual__1 (user admin)"
    )
    with pytest.raises(RegistryInputError, match="has no version 42"):
        rollback.execute(_context(params={"target_version": 42, "reason": "x"}))
