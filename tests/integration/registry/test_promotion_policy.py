"""One promotion policy for rollback, gate, A/B and approved promotion (issue 22), against a real
(SQLite) MLflow registry, through the real RollbackOperator.

v1 and v2 passed the gate and were champion in turn; v3 was rejected by the gate; v4 was never
evaluated. A rollback goes only to a former champion or a gate-passed version; anything else
needs an approval where registry.approval is configured and is refused otherwise, naming the
model, the version and why. Every move records the Airflow user who triggered the run.
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest
from driftline.registry.audit import history
from driftline.registry.champion import read_aliases
from driftline.registry.errors import PromotionRefusedError
from driftline.registry.promotion import (
    GATE_DECISION_TAG,
    PromotionRules,
    Standing,
    authorize,
    plan_rollback,
    promote,
)
from driftline.registry.registration import register_training_run
from driftline.registry.retry import RetryPolicy
from registry_helpers import extra_versions, log_training_run, registry_config

FAST = RetryPolicy(attempts=3, backoff=0.05)
APPROVAL = {"required": True, "respondents": ["carol"]}


@pytest.fixture
def server_hook(tmp_path: Any, driftline_home: Any) -> Any:
    from driftline.mlflow_store import MlflowStore

    return MlflowStore(f"sqlite:///{tmp_path / 'mlflow.db'}")


@pytest.fixture
def history_of_versions(server_hook: Any, model_name: str) -> str:
    """v1, v2 passed the gate and were champion (v2 now, v1 previous); v3 rejected; v4 never evaluated."""
    config = registry_config(model_name)
    training = log_training_run(server_hook, model_name)
    out = register_training_run(server_hook, config, training, dag_id="driftline__t", run_id="scheduled__1")
    extra_versions(server_hook, model_name, out["version"], 3)
    client = server_hook.client
    for version, decision in ((1, "promoted"), (2, "promoted"), (3, "rejected")):
        client.set_model_version_tag(model_name, str(version), GATE_DECISION_TAG, decision)
    rules = PromotionRules()
    promote(server_hook, model_name, 1, None, "gate: first", "airflow:p/r1", rules=rules, policy=FAST)
    promote(server_hook, model_name, 2, 1, "gate: better", "airflow:p/r2", rules=rules, policy=FAST)
    return model_name


class _Events(defaultdict):  # type: ignore[type-arg]
    def __init__(self) -> None:
        super().__init__(lambda: SimpleNamespace(add=lambda *a, **k: None))


def _rollback(
    hook: Any, name: str, target: int | None, user: str, answer: Any = None, **registry: Any
) -> Any:
    from driftline.operators.registry import RollbackOperator

    config = registry_config(name, **registry)
    op = RollbackOperator(task_id="rollback", model_config=config, approval=answer, registry_retries=2)
    op.__dict__["hook"] = hook
    run_id = f"manual__{user}__{target}__{len(history(hook, name))}"
    context = {
        "ti": SimpleNamespace(dag_id=f"driftline__{name}__rollback", run_id=run_id, task_id="rollback"),
        "dag_run": SimpleNamespace(run_id=run_id, triggering_user_name=user),
        "params": {"target_version": target, "reason": f"{user} rolls back"},
        "outlet_events": _Events(),
    }
    return op.execute(context)


def _approved_by(user: str) -> dict[str, Any]:
    return {"chosen_options": ["Approve"], "responded_by_user": {"id": user, "name": user}}


def test_rollback_to_a_gate_rejected_version_with_approval_required_is_refused(
    server_hook: Any, history_of_versions: str
) -> None:
    name = history_of_versions
    with pytest.raises(PromotionRefusedError) as info:
        _rollback(server_hook, name, 3, "mallory", approval=APPROVAL)
    message = str(info.value)
    assert f"rollback of {name!r} to version 3 refused" in message
    assert "never held 'champion'" in message and "the gate decided 'rejected'" in message
    assert "needs an approval" in message
    assert read_aliases(server_hook, name)["champion"] == 2  # nothing moved
    # without approval configured there is no way around it, and the error says so
    with pytest.raises(
        PromotionRefusedError,
        match=r"version 4 refused: version 4 never held 'champion' and the gate never passed it; only a former champion",
    ):
        _rollback(server_hook, name, 4, "mallory")
    # an approval by someone who is not a respondent does not count
    with pytest.raises(
        PromotionRefusedError, match=r"approved by 'mallory', who is not in registry.approval.respondents"
    ):
        _rollback(server_hook, name, 3, "mallory", _approved_by("mallory"), approval=APPROVAL)
    assert read_aliases(server_hook, name)["champion"] == 2


def test_rollback_to_a_former_champion_is_allowed_and_audited_with_the_user(
    server_hook: Any, history_of_versions: str
) -> None:
    name = history_of_versions
    out = _rollback(server_hook, name, 1, "alice", approval=APPROVAL)
    assert (out["version"], out["previous"], out["changed"]) == (1, 2, True)
    assert read_aliases(server_hook, name)["champion"] == 1
    entry = [e for e in history(server_hook, name) if e.alias == "champion"][-1]
    assert (entry.action, entry.to_version, entry.user) == ("rollback", 1, "alice")
    assert entry.details["policy"] == "held champion before (audit trail)"
    assert "(user alice)" in entry.actor


def test_an_approved_rollback_to_an_unproven_version_records_the_approver(
    server_hook: Any, history_of_versions: str
) -> None:
    name = history_of_versions
    out = _rollback(server_hook, name, 3, "alice", _approved_by("carol"), approval=APPROVAL)
    assert out["changed"] and out["approved_by"] == "carol"
    entry = [e for e in history(server_hook, name) if e.alias == "champion"][-1]
    assert entry.user == "alice" and entry.details["approved_by"] == "carol"
    assert entry.details["policy"].startswith("approved by carol")


def test_plan_rollback_asks_for_approval_only_when_needed(server_hook: Any, history_of_versions: str) -> None:
    name = history_of_versions
    rules = PromotionRules(approval_required=True, respondents=("carol",))
    plan = plan_rollback(server_hook, name, 3, "r", "a", rules=rules, policy=FAST, op_key="rb/1")
    assert plan["needs_approval"] and not plan["allowed"] and plan["target"] == 3
    plan = plan_rollback(server_hook, name, 1, "r", "a", rules=rules, policy=FAST, op_key="rb/2")
    assert plan["allowed"] and not plan["needs_approval"]
    with pytest.raises(PromotionRefusedError):
        plan_rollback(server_hook, name, 4, "r", "a", rules=PromotionRules(), policy=FAST, op_key="rb/3")


def test_promotion_goes_through_the_same_checks(server_hook: Any, history_of_versions: str) -> None:
    name = history_of_versions
    with pytest.raises(
        PromotionRefusedError, match=r"promote of .* to version 4 refused: the gate never passed it"
    ):
        promote(server_hook, name, 4, 2, "manual", "ops", rules=PromotionRules(), policy=FAST)
    with pytest.raises(
        PromotionRefusedError, match=r"registry\.approval\.required is set and nobody approved it"
    ):
        promote(
            server_hook, name, 1, 2, "gate", "ops", rules=PromotionRules(approval_required=True), policy=FAST
        )
    assert read_aliases(server_hook, name)["champion"] == 2


@pytest.mark.parametrize(
    ("standing", "rules", "approval", "allowed"),
    [
        (Standing(True, None), PromotionRules(), None, True),
        (Standing(False, "promoted"), PromotionRules(), None, True),
        (Standing(False, "ab_test"), PromotionRules(), None, True),
        (Standing(False, "rejected"), PromotionRules(), None, False),
        (Standing(False, "kept_champion"), PromotionRules(True, ("c",)), None, False),
        (
            Standing(False, "rejected"),
            PromotionRules(True, ("c",)),
            {"approved_by": "c", "chosen": ["Approve"]},
            True,
        ),
        (
            Standing(False, "rejected"),
            PromotionRules(True, ("c",)),
            {"approved_by": "c", "chosen": ["Reject"]},
            False,
        ),
        (
            Standing(False, None),
            PromotionRules(False, ()),
            {"approved_by": "c", "chosen": ["Approve"]},
            False,
        ),
    ],
)
def test_rollback_truth_table(
    standing: Standing, rules: PromotionRules, approval: Any, allowed: bool
) -> None:
    if allowed:
        assert authorize("m", 7, "rollback", standing, rules, approval)["policy"]
    else:
        with pytest.raises(PromotionRefusedError, match="rollback of 'm' to version 7 refused"):
            authorize("m", 7, "rollback", standing, rules, approval)
