"""Registry steps: register the trained model, gate it against the champion, roll back.

All talk to MLflow through MlflowHook(mlflow_conn_id). Nothing heavy is imported at module level
(this module is imported when DAGs are parsed). A champion change (promotion or rollback) emits an
event of the Asset `driftline.assets.champion(model)` through the operator's AssetAlias
outlet, so the event exists only when the alias really moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from driftline import assets
from driftline.operators.base import DriftlineOperator, run_identity, run_interval
from driftline.payloads import GatePayload, RegistrationPayload

if TYPE_CHECKING:
    from driftline.hooks.mlflow import MlflowHook
    from driftline.registry.retry import RetryPolicy


def user_of(context: Any) -> str | None:
    """The Airflow user who triggered the DAG run (`dag_run.triggering_user_name`); None for the scheduler."""
    user = getattr(context.get("dag_run"), "triggering_user_name", None)
    return str(user) if user else None


def actor_of(context: Any) -> str:
    """Who acts: the Airflow DAG run, plus the triggering user when the context names one."""
    ti = context.get("ti")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    run_id = getattr(ti, "run_id", None) or getattr(context.get("dag_run"), "run_id", "?")
    actor = f"airflow:{dag_id}/{run_id}"
    user = getattr(context.get("dag_run"), "triggering_user_name", None)
    return f"{actor} (user {user})" if user else actor


class RegistryOperator(DriftlineOperator):
    """Shared: the hook, the retry policy and the lock timings."""

    ui_color = "#f3e8fb"

    def __init__(
        self,
        *,
        mlflow_conn_id: str | None = None,
        registry_retries: int | None = None,
        registry_backoff: float | None = None,
        lock_ttl: float = 120.0,
        lock_wait: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id or self.model_config.registry.mlflow_conn_id
        self.registry_retries = registry_retries
        self.registry_backoff = registry_backoff
        self.lock_ttl = lock_ttl
        self.lock_wait = lock_wait

    @cached_property
    def hook(self) -> MlflowHook:
        from driftline.hooks.mlflow import MlflowHook

        return MlflowHook(self.mlflow_conn_id)

    def policy(self) -> RetryPolicy:
        from driftline.registry.retry import RetryPolicy

        default = RetryPolicy.from_env()
        return RetryPolicy(
            attempts=self.registry_retries if self.registry_retries is not None else default.attempts,
            backoff=self.registry_backoff if self.registry_backoff is not None else default.backoff,
        )

    def emit_champion(self, context: Any, extra: dict[str, Any]) -> None:
        model = self.model_config.model.name
        context["outlet_events"][assets.champion_alias(model)].add(assets.champion(model), extra=extra)


class RegisterModelOperator(RegistryOperator):
    """Register the training run's model as a new version (alias `challenger`); idempotent per Airflow run.

    :param training: the train step's result {"run_id", ...} (templated; usually `train.output`).
    Returns {"name", "version", "run_id"}.
    """

    template_fields: Sequence[str] = ("training",)

    def __init__(self, *, training: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.training = training

    def execute(self, context: Any) -> RegistrationPayload:
        from driftline.registry.registration import register_training_run

        identity = run_identity(context)
        result = register_training_run(
            self.hook,
            self.model_config,
            dict(self.training or {}),
            dag_id=identity.dag_id,
            run_id=identity.run_id,
            actor=actor_of(context),
            policy=self.policy(),
            lock_ttl=self.lock_ttl,
            lock_wait=self.lock_wait,
        )
        self.log.info("registered %s version %s from run %s (alias challenger)", *result.values())
        return result


class EvaluationGateOperator(RegistryOperator):
    """Score challenger and champion on the validation slice of the training snapshot; promote if better.

    :param registered: the register step's result (templated).
    :param evaluation: the validated training snapshot's SnapshotRef dict (templated).
    Returns {"decision", "reason", "metric", "direction", "challenger": {"version", "score"},
    "champion": {"version", "score"} | None, "promotion": {...} | None}.
    """

    template_fields: Sequence[str] = ("registered", "evaluation")

    def __init__(self, *, registered: Any, evaluation: Any, **kwargs: Any) -> None:
        model_config = kwargs["model_config"]
        kwargs["outlets"] = [
            *list(kwargs.get("outlets") or []),
            assets.champion_alias(model_config.model.name),
        ]
        super().__init__(**kwargs)
        self.registered = registered
        self.evaluation = evaluation

    def execute(self, context: Any) -> GatePayload:
        from driftline.registry.gate import run_gate

        identity = run_identity(context)
        data_start, data_end = run_interval(context)
        result = run_gate(
            self.hook,
            self.model_config,
            dict(self.registered or {}),
            dict(self.evaluation or {}),
            actor=actor_of(context),
            policy=self.policy(),
            lock_ttl=self.lock_ttl,
            lock_wait=self.lock_wait,
            op_key=f"{identity.dag_id}/{identity.run_id}",
            data_time=data_end,
            # registry.approval.required: record the verdict, the approval task and promote step act on it
            approval_required=self.model_config.registry.approval.required,
            data_start=data_start,
            user=user_of(context),
        )
        self.log.info(
            "gate for %s: %s (%s)",
            self.model_config.registered_model_name,
            result["decision"],
            result["reason"],
        )
        promotion = result.get("promotion") or {}
        if result["decision"] == "promoted" and promotion.get("changed"):
            self.emit_champion(
                context,
                {
                    "version": result["challenger"]["version"],
                    "previous": promotion["previous"],
                    "action": "promote",
                },
            )
        return result


def rollback_request(params: dict[str, Any]) -> tuple[int | None, str]:
    """(target version or None = previous-champion, reason) from the rollback DAG's params."""
    from driftline.registry.errors import RegistryInputError

    raw_target = params.get("target_version")
    try:
        target = int(raw_target) if raw_target not in (None, "") else None
    except (TypeError, ValueError) as exc:
        raise RegistryInputError(
            f"params.target_version must be an integer or null, got {raw_target!r}"
        ) from exc
    return target, str(params.get("reason") or "").strip() or "manual rollback (no reason given)"


class PlanRollbackOperator(RegistryOperator):
    """With `registry.approval.required`: decide the rollback target (recorded per run) and ask the
    promotion policy; a target that needs an approval becomes a `promotion_request` for the approval
    task. Moves nothing. Returns {"target", "expected", "allowed", "needs_approval", ...}."""

    def execute(self, context: Any) -> dict[str, Any]:
        from driftline.registry.promotion import PromotionRules, plan_rollback

        target, reason = rollback_request(context.get("params") or {})
        identity = run_identity(context)
        name = self.model_config.registered_model_name
        plan = plan_rollback(
            self.hook,
            name,
            target,
            reason,
            actor_of(context),
            rules=PromotionRules.of(self.model_config),
            policy=self.policy(),
            lock_ttl=self.lock_ttl,
            lock_wait=self.lock_wait,
            op_key=f"{identity.dag_id}/{identity.run_id}",
        )
        if plan["needs_approval"]:
            plan["promotion_request"] = {
                "source": "rollback",
                "model": name,
                "version": plan["target"],
                "expected_champion": plan["expected"],
                "reason": f"rollback: {reason} (needs approval: {plan['refused']})",
                "metric": self.model_config.registry.metric,
                "direction": self.model_config.registry.direction,
                "challenger_score": None,
                "champion_score": None,
                "interval": None,
                "ab_result": None,
                "evaluated_on": "",
                "data_window": None,
                "requested_by": actor_of(context),
            }
        self.log.info("rollback plan for %s: %s", name, plan)
        return plan


class RollbackOperator(RegistryOperator):
    """Restore an earlier version as champion (params `target_version`: int or null = previous-champion,
    `reason`: str), through the same locked compare-and-set path and the same promotion policy as
    every promotion (driftline.registry.promotion.authorize): the target must have held `champion`
    before or passed the gate; anything else needs an approval where `registry.approval.required` is
    set (`approval`: the approval task's answer, templated) and is refused otherwise. The target is
    decided once per Airflow run and recorded in the registry first; a retry finishes that decision.
    The audit entry records the Airflow user who triggered the run."""

    template_fields: Sequence[str] = ("approval",)

    def __init__(self, *, approval: Any = None, **kwargs: Any) -> None:
        model_config = kwargs["model_config"]
        kwargs["outlets"] = [
            *list(kwargs.get("outlets") or []),
            assets.champion_alias(model_config.model.name),
        ]
        super().__init__(**kwargs)
        self.approval = approval

    def execute(self, context: Any) -> dict[str, Any]:
        from driftline.registry.approval import approval_details
        from driftline.registry.promotion import PromotionRules, rollback

        target, reason = rollback_request(context.get("params") or {})
        approval = approval_details(dict(self.approval)) if isinstance(self.approval, dict) else None
        approved = approval["approved_by"] if approval and approval.get("chosen") == ["Approve"] else None
        identity = run_identity(context)
        result = rollback(
            self.hook,
            self.model_config.registered_model_name,
            target,
            reason + (f"; approved by {approved}" if approved else ""),
            actor_of(context),
            policy=self.policy(),
            lock_ttl=self.lock_ttl,
            lock_wait=self.lock_wait,
            op_key=f"{identity.dag_id}/{identity.run_id}",
            rules=PromotionRules.of(self.model_config),
            approval=approval,
            user=user_of(context),
        )
        out = result.to_dict() | {"reason": reason, "approved_by": approved}
        if result.changed:
            self.emit_champion(
                context, {"version": result.version, "previous": result.previous, "action": "rollback"}
            )
        self.log.info("rollback of %s: %s", result.name, out)
        return out
