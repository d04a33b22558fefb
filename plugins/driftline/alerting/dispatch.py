"""Send an alert to the channels of every rule it matches, once per (model, run, rule).

Called by `driftline.alerting.record.emit_alert` after the alert is recorded. The model's `alerts`
section comes from the caller (a deadline callback passes it), from the Airflow task that is
running (its `model_config`), or else from the model's config file in the configs folder
(task callbacks, such as the cost step's budget check, run outside the task's context). A channel that fails is logged and recorded as a
`delivery_failed` line in the alert record; it never hides the alert or the other channels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from driftline.alerting import dedupe
from driftline.alerting.event import AlertEvent
from driftline.alerting.notifiers import build_notifier, render, run_link
from driftline.alerting.rules import canonical_kind, matching_rules
from driftline.config.models import AlertsSection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """What happened to one (rule, channel) of an alert."""

    rule: str
    channel: str
    status: str  # "sent" | "duplicate" | "failed"
    error: str | None = None


def _running_task_alerts(model: str) -> tuple[AlertsSection | None, Any]:
    """The `alerts` section of the running Driftline task's model, and the task's context."""
    try:
        from airflow.sdk import get_current_context

        context = get_current_context()
    except Exception:  # not inside a running task
        return None, {}
    config = getattr(context.get("task"), "model_config", None)
    if config is None or config.model.name != model:
        return None, context
    return config.alerts, context


def _config_file_alerts(model: str) -> AlertsSection | None:
    """The `alerts` section of `model` read from its config file (None: no such model or section)."""
    from driftline.config.loader import load_folder
    from driftline.settings import configs_dir

    loaded = load_folder(configs_dir(), only_model=model)
    for config in loaded.configs.values():
        if config.model.name == model:
            return config.alerts
    return None


def deliver(event: AlertEvent, alerts: AlertsSection | None = None, context: Any = None) -> list[Delivery]:
    """Notify every channel of every rule `event` matches; returns what happened per channel.

    Every alert also counts as `driftline.alerts` (tags: model, kind) in Airflow's metrics.
    """
    from airflow.sdk.observability.stats import Stats

    Stats.incr("driftline.alerts", tags={"model": event.model, "kind": canonical_kind(event.kind)})
    if alerts is None:
        alerts, found = _running_task_alerts(event.model)
        context = context if context is not None else found
        if alerts is None and not found:
            alerts = _config_file_alerts(event.model)
    if alerts is None:
        log.debug("no alerts section for %s: the alert is recorded only", event.model)
        return []
    rules = matching_rules(alerts, event.kind, event.details)
    if not rules:
        return []
    run_id = str(event.run.get("run_id") or "")
    link = run_link(event.run.get("dag_id"), run_id or None)
    out: list[Delivery] = []
    for rule in rules:
        message = render(event, rule.rule_name, link)
        for name in rule.notify:
            out.append(_send(event, alerts, rule.rule_name, name, run_id, message, context))
    return out


def _send(
    event: AlertEvent,
    alerts: AlertsSection,
    rule: str,
    channel: str,
    run_id: str,
    message: Any,
    context: Any,
) -> Delivery:
    """One channel of one rule: claim (run, rule, channel), send, give the claim back on failure."""
    key = f"{rule}.{channel}"
    if canonical_kind(event.kind) == "budget" and "fraction" in event.details:
        key += f".{event.details['fraction']}"  # each budget fraction crossed is its own notification
    claimed = dedupe.claim(event.model, run_id, key)
    if claimed is None:
        log.info("alert rule %s already notified %s for run %s: not sent again", rule, channel, run_id)
        return Delivery(rule, channel, "duplicate")
    try:
        build_notifier(alerts.channels[channel], message).notify(context or {})  # type: ignore[arg-type]
    except Exception as exc:
        dedupe.release(claimed)  # a retry of the step may send again
        log.exception("alert %s/%s could not be sent to channel %s", event.model, event.kind, channel)
        return Delivery(rule, channel, "failed", f"{type(exc).__name__}: {exc}"[:500])
    log.info("alert %s/%s sent to channel %s (rule %s)", event.model, event.kind, channel, rule)
    return Delivery(rule, channel, "sent")
