"""Which rules of a model's `alerts` section an alert matches (pure; no Airflow)."""

from __future__ import annotations

from typing import Any

from driftline.config.models import AlertRule, AlertsSection

# Kinds some steps emit under an older name.
KIND_ALIASES = {"drift_not_evaluated": "not_evaluated"}
# The detail each thresholded kind is compared on.
THRESHOLD_DETAIL = {"drift": "share", "metric_drop": "drop", "budget": "fraction", "not_evaluated": "streak"}


def canonical_kind(kind: str) -> str:
    return KIND_ALIASES.get(kind, kind)


def threshold_met(rule: AlertRule, details: dict[str, Any]) -> bool:
    """True when the rule has no threshold, or the alert's value passes it (drift: strictly above)."""
    if rule.threshold is None:
        return True
    raw = details.get(THRESHOLD_DETAIL[rule.on])
    if raw is None:
        return False
    value = float(raw)
    return value > rule.threshold if rule.on == "drift" else value >= rule.threshold


def matching_rules(alerts: AlertsSection, kind: str, details: dict[str, Any]) -> list[AlertRule]:
    """The rules an alert of `kind` with `details` triggers, in config order.

    `alerts.freshness.notify` acts as a `freshness_missed` rule named `freshness`.
    """
    kind = canonical_kind(kind)
    rules = [rule for rule in alerts.rules if rule.on == kind and threshold_met(rule, details)]
    if kind == "freshness_missed" and alerts.freshness is not None:
        rules.append(AlertRule(name="freshness", on="freshness_missed", notify=alerts.freshness.notify))
    return rules
