"""Human approval in front of a promotion (`registry.approval.required`), and the promote step after it.

`PromotionApprovalOperator` is Airflow's `ApprovalOperator` (standard provider HITL): it reads the
`promotion_request` of the step before it (the gate's or an A/B evaluation's result), shows it as a
Markdown comparison, lets only the configured respondents answer (Browse > Required Actions, or
`PATCH /api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/-1/hitlDetails`), and rejects when
nobody answers within `timeout_hours` (its default). It skips itself when there is nothing to approve,
and on "Reject" it skips the promote step. `PromoteApprovedOperator` then moves the alias through the
registry's guarded path (compare-and-set on the champion the request compared against) and writes
who approved into the audit entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk.exceptions import AirflowSkipException

from driftline import assets
from driftline.config.models import ModelConfig
from driftline.operators.base import driftline_failure_callbacks, driftline_retry_policy, run_identity
from driftline.operators.registry import RegistryOperator, actor_of, user_of

TAG_APPROVAL_PREFIX = "driftline.approval."


def request_of(decision: Any) -> dict[str, Any] | None:
    """The promotion request in a gate / A/B evaluation result, or None when nothing is to be promoted."""
    request = dict(decision or {}).get("promotion_request")
    return dict(request) if request else None


class PromotionApprovalOperator(ApprovalOperator):
    """Wait for a human to approve the promotion the previous step asks for.

    :param decision: the gate's or the A/B evaluation's result (templated; e.g. `gate.output`).
    :param drift: the run's check_drift result, shown in the comparison (templated, optional).
    Returns the HITL answer {"chosen_options", "params_input", "responded_at", "responded_by_user"}.
    """

    template_fields: Sequence[str] = (*ApprovalOperator.template_fields, "decision", "drift")
    ui_color = "#fdf1d6"

    def __init__(self, *, model_config: ModelConfig, decision: Any, drift: Any = None, **kwargs: Any) -> None:
        approval = model_config.registry.approval
        kwargs.setdefault("retry_policy", driftline_retry_policy())
        kwargs.setdefault("on_failure_callback", driftline_failure_callbacks())
        super().__init__(
            subject=f"Promote a new champion of {model_config.registered_model_name}?",
            body="The comparison is written when the promotion request arrives.",
            defaults=ApprovalOperator.REJECT,  # no answer within timeout_hours: rejected
            assigned_users=[{"id": user, "name": user} for user in approval.respondents],
            response_timeout=dt.timedelta(hours=approval.timeout_hours),
            **kwargs,
        )
        self.model_config = model_config
        self.decision = decision
        self.drift = drift

    def execute(self, context: Any) -> Any:
        from driftline.alerting import AlertEvent, emit_alert
        from driftline.registry.approval import approval_markdown

        request = request_of(self.decision)
        if request is None:
            what = dict(self.decision or {})
            raise AirflowSkipException(
                f"nothing to approve: the previous step decided {what.get('decision') or what.get('action')!r}"
            )
        approval = self.model_config.registry.approval
        self.subject = f"Promote version {request['version']} of {request['model']} to champion?"
        self.body = approval_markdown(
            request,  # type: ignore[arg-type]  # an XCom dict shaped as PromotionRequest
            respondents=list(approval.respondents),
            timeout_hours=approval.timeout_hours,
            drift=dict(self.drift) if self.drift else None,
        )
        identity = run_identity(context)
        emit_alert(
            AlertEvent(
                model=self.model_config.model.name,
                kind="approval_waiting",
                severity="warning",
                message=f"{self.subject} Waiting for {', '.join(approval.respondents)} "
                f"(rejected after {approval.timeout_hours:g} h without an answer)",
                details={
                    "version": request["version"],
                    "expected_champion": request.get("expected_champion"),
                    "source": request.get("source"),
                    "respondents": list(approval.respondents),
                    "timeout_hours": approval.timeout_hours,
                },
                run={"dag_id": identity.dag_id, "run_id": identity.run_id, "task_id": identity.task_id},
            )
        )
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        answer = super().execute_complete(context=context, event=event)
        chosen = list(answer["chosen_options"])
        user = answer.get("responded_by_user")
        if event.get("timedout"):
            self.log.warning("nobody answered within the timeout: the promotion is rejected")
        else:
            self.log.info("%s answered %s", user, chosen)
        return {**answer, "timed_out": bool(event.get("timedout"))}


class PromoteApprovedOperator(RegistryOperator):
    """Promote the requested version once a human approved it; the approver goes into the audit trail.

    :param decision: the result that carried the `promotion_request` (templated).
    :param approval: the approval task's answer (templated); None without `registry.approval.required`
        (an A/B decision then promotes directly).
    Returns the promotion {"name", "version", "previous", "changed", "audit_seq", "approved_by"}.
    """

    template_fields: Sequence[str] = ("decision", "approval")

    def __init__(self, *, decision: Any, approval: Any = None, **kwargs: Any) -> None:
        model_config = kwargs["model_config"]
        kwargs["outlets"] = [
            *list(kwargs.get("outlets") or []),
            assets.champion_alias(model_config.model.name),
        ]
        super().__init__(**kwargs)
        self.decision = decision
        self.approval = approval

    def execute(self, context: Any) -> dict[str, Any]:
        from driftline.registry.approval import approval_details
        from driftline.registry.errors import RegistryConflictError, RegistryInputError
        from driftline.registry.promotion import PromotionRules, promote

        request = request_of(self.decision)
        if request is None:
            raise AirflowSkipException("nothing to promote: the previous step asked for no promotion")
        approval_required = self.model_config.registry.approval.required
        who: dict[str, Any] = {}
        if approval_required or self.approval is not None:
            answer = dict(self.approval or {})
            who = approval_details(answer)
            if who["chosen"] != [ApprovalOperator.APPROVE] or answer.get("timed_out"):
                raise AirflowSkipException(f"the promotion was not approved: {who}")
            respondents = self.model_config.registry.approval.respondents
            if respondents and who["approved_by"] not in respondents:
                raise RegistryInputError(
                    f"approved by {who['approved_by']!r}, who is not in registry.approval.respondents {respondents}"
                )
        approved = f"; approved by {who['approved_by']}" if who else ""
        name = str(request["model"])
        version = int(request["version"])
        identity = run_identity(context)
        try:
            result = promote(
                self.hook,
                name,
                version,
                request.get("expected_champion"),
                f"{request.get('reason', '')}{approved}",
                f"{actor_of(context)}{approved.replace(';', '')}",
                details={
                    **dict(request.get("details") or {}),
                    "source": request.get("source"),
                    "metric": request.get("metric"),
                    "challenger_score": request.get("challenger_score"),
                    "champion_score": request.get("champion_score"),
                    "interval": request.get("interval"),
                    "ab_result": _ab_summary(request.get("ab_result")),
                    "approval": who or None,
                },
                policy=self.policy(),
                lock_ttl=self.lock_ttl,
                lock_wait=self.lock_wait,
                op_key=f"{identity.dag_id}/{identity.run_id}",
                rules=PromotionRules.of(self.model_config),
                approval=who or None,
                user=user_of(context),
            )
        except RegistryConflictError as exc:
            # The approval was given for a comparison against a champion that is gone: a retry would
            # fail the same way, and promoting anyway would skip the comparison the human saw.
            raise RegistryInputError(
                f"version {version} of {name!r} was approved against champion "
                f"{request.get('expected_champion')}, but the champion changed while the approval was "
                f"pending ({exc}); nothing was promoted: evaluate again"
            ) from exc
        if result.changed:
            self.emit_champion(
                context,
                {
                    "version": version,
                    "previous": result.previous,
                    "action": "promote",
                    "approved_by": who.get("approved_by"),
                },
            )
        self.log.info("promoted %s version %s%s", name, version, approved)
        return result.to_dict() | {"approved_by": who.get("approved_by")}


def _ab_summary(result: Any) -> dict[str, Any] | None:
    """The A/B figures worth keeping in an audit entry."""
    if not result:
        return None
    keys = ("action", "effect", "lower", "upper", "p_value", "statistic", "srm_p_value", "arms")
    return {k: result.get(k) for k in keys if k in result}
