"""Human approval of a promotion: the request a step hands to the approval task, and what the human sees.

A step that would promote (the evaluation gate, an A/B decision) hands a `PromotionRequest` to the
approval task when `registry.approval.required` is set, instead of moving the alias itself. The
approval task shows `approval_markdown(...)`; once a respondent approves, the promote step moves
the alias through the guarded path (driftline.registry.promotion.promote, compare-and-set on the
champion the request compared against) and the approver goes into the audit entry
(`approval_details`). Airflow-free: the operators own the HITL machinery.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, NotRequired, TypedDict

Source = Literal["gate", "ab_test", "rollback"]


class PromotionRequest(TypedDict):
    """What is to be promoted, against which champion, and the evidence for it."""

    source: Source
    model: str
    version: int
    expected_champion: int | None
    reason: str
    metric: str
    direction: str
    challenger_score: float | None
    champion_score: float | None
    interval: dict[str, Any] | None
    ab_result: dict[str, Any] | None
    evaluated_on: str
    data_window: dict[str, str] | None
    requested_by: str
    details: NotRequired[dict[str, Any]]


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _version(value: int | None) -> str:
    return "none" if value is None else f"v{value}"


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _comparison(request: PromotionRequest) -> list[str]:
    champion = request["expected_champion"]
    lines = [
        f"| {_md(request['metric'])} ({request['direction']}) | champion {_version(champion)} "
        f"| challenger {_version(request['version'])} |",
        "|---|---:|---:|",
        f"| score | {_num(request['champion_score'])} | {_num(request['challenger_score'])} |",
    ]
    interval = request.get("interval") or {}
    if interval:
        keys = ", ".join(
            f"{k} {_num(interval[k])}" for k in sorted(interval) if not isinstance(interval[k], dict)
        )
        what = (
            "Paired comparison on the held-out rows"
            if request["source"] == "gate"
            else "Always-valid interval of challenger - champion"
        )
        lines += ["", f"{what}: {_md(keys)}"]
    return lines


def _ab(result: dict[str, Any]) -> list[str]:
    lines = ["", "#### A/B test", "", "| arm | outcomes | KPI mean | KPI variance |", "|---|---:|---:|---:|"]
    for arm, summary in (result.get("arms") or {}).items():
        lines.append(
            f"| {arm} | {_num(summary.get('n'))} | {_num(summary.get('kpi_mean'))} | {_num(summary.get('kpi_var'))} |"
        )
    lines += [
        "",
        f"- decision: **{_md(str(result.get('action')))}**: {_md(str(result.get('reason', '')))}",
        f"- challenger - champion: {_num(result.get('effect'))}, always-valid interval "
        f"[{_num(result.get('lower'))}, {_num(result.get('upper'))}], always-valid p {_num(result.get('p_value'))}, "
        f"log LR {_num(result.get('statistic'))} (mSPRT)",
        f"- sample-ratio check p {_num(result.get('srm_p_value'))}; outcomes of unassigned entities: "
        f"{_num(result.get('unassigned'))}",
    ]
    for name, rail in (result.get("guardrails") or {}).items():
        lines.append(
            f"- guardrail {_md(name)}: relative change {_num(rail.get('relative_change'))} "
            f"(allowed degradation {_num(rail.get('max_degradation'))}), "
            f"{'BREACHED' if rail.get('breached') else 'at risk' if rail.get('at_risk') else 'ok'}"
        )
    return lines


def _drift(drift: dict[str, Any]) -> list[str]:
    lines = ["", "#### Drift (this run)", ""]
    data = drift.get("data_drift") or {}
    if data.get("evaluated") is False or not data:
        lines.append(f"- data drift: not evaluated ({_md(str(data.get('reason', 'no result')))})")
    else:
        lines.append(
            f"- data drift: {'DRIFT' if data.get('dataset_drift') else 'no drift'}, "
            f"{_num(data.get('number_of_drifted_columns'))} of {_num(data.get('number_of_columns'))} columns "
            f"(share {_num(data.get('drift_share'))}, threshold {_num(data.get('drift_share_threshold'))})"
            + (
                f": {_md(', '.join(map(str, data['drifted_columns'])))}"
                if data.get("drifted_columns")
                else ""
            )
        )
    concept = drift.get("concept_drift") or {}
    if concept:
        state = concept.get("drifted")
        lines.append(
            "- concept drift: "
            + ("not evaluated" if state is None else "DRIFT" if state else "no drift")
            + (f" ({_md(str(concept['reason']))})" if concept.get("reason") else "")
        )
    return lines


def approval_markdown(
    request: PromotionRequest,
    *,
    respondents: list[str],
    timeout_hours: float,
    drift: dict[str, Any] | None = None,
) -> str:
    """The body of the approval task: the comparison and everything the decision rests on."""
    what = {"gate": "the evaluation gate", "rollback": "a rollback"}.get(request["source"], "the A/B test")
    lines = [
        f"### Promote version {request['version']} of `{request['model']}` to champion?",
        "",
        f"Requested by {what} ({_md(request['requested_by'])}): {_md(request['reason'])}",
        "",
        *_comparison(request),
    ]
    if request.get("ab_result"):
        lines += _ab(request["ab_result"] or {})
    if drift:
        lines += _drift(drift)
    window = request.get("data_window") or {}
    lines += ["", "#### Data", ""]
    if window:
        lines.append(f"- data window: {window.get('start')} to {window.get('end')}")
    if request.get("evaluated_on"):
        lines.append(f"- evaluated on: `{request['evaluated_on']}`")
    lines += [
        "",
        f"Allowed respondents: {', '.join(f'`{r}`' for r in respondents) or 'any user with access'}. "
        f"No answer within {timeout_hours:g} h rejects the promotion. Approving moves the `champion` "
        f"alias to {_version(request['version'])} only if the champion is still "
        f"{_version(request['expected_champion'])}.",
    ]
    return "\n".join(lines)


def approval_details(approval: dict[str, Any] | None) -> dict[str, Any]:
    """Who answered, when, and what, from the approval task's result (for the audit entry)."""
    approval = approval or {}
    user = approval.get("responded_by_user") or {}
    responded_at = approval.get("responded_at")
    if isinstance(responded_at, dt.datetime):
        responded_at = responded_at.astimezone(dt.UTC).isoformat()
    return {
        "approved_by": user.get("id") if isinstance(user, dict) else str(user),
        "approved_by_name": user.get("name") if isinstance(user, dict) else str(user),
        "approved_at": responded_at,
        "chosen": list(approval.get("chosen_options") or []),
    }
