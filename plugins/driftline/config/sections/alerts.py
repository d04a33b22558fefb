"""The `alerts` section: alert kinds, channels, rules and the freshness objective."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from driftline.config.sections.base import Strict

AlertKind = Literal[
    "drift",
    "metric_drop",
    "validation_failed",
    "not_evaluated",
    "task_failed",
    "budget",
    "experiment_decided",
    "approval_waiting",
    "freshness_missed",
]


# What `threshold` means per kind (kinds not listed take no threshold).
ALERT_THRESHOLDS = {
    "drift": "drift share strictly above",
    "metric_drop": "live metric drop (absolute) at least",
    "budget": "fraction of the budget spent at least",
    "not_evaluated": "consecutive not-evaluated runs at least",
}


class SmtpChannel(Strict):
    """E-mail through an Airflow SMTP connection (host, port, login and password live there)."""

    type: Literal["smtp"]
    conn_id: str = Field(default="smtp_default", min_length=1)
    to: list[str] = Field(min_length=1)
    from_email: str | None = Field(default=None, description="Default: the connection's from_email.")


class SlackChannel(Strict):
    """Slack incoming webhook: an Airflow HTTP connection whose host (and password) hold the webhook URL."""

    type: Literal["slack"]
    conn_id: str = Field(min_length=1)


class WebhookChannel(Strict):
    """A JSON POST of the alert to an Airflow HTTP connection (+ `endpoint`)."""

    type: Literal["webhook"]
    conn_id: str = Field(min_length=1)
    endpoint: str = ""


Channel = Annotated[SmtpChannel | SlackChannel | WebhookChannel, Field(discriminator="type")]


class AlertRule(Strict):
    """Send alerts of one kind (above a threshold, where the kind has one) to channels."""

    name: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9_\-]{0,62}$", description="Default: the kind."
    )
    on: AlertKind
    threshold: float | None = Field(
        default=None,
        ge=0,
        description="drift: share of drifted columns above; metric_drop: drop at least; budget: "
        "fraction at least; not_evaluated: streak at least. Other kinds take none.",
    )
    notify: list[str] = Field(min_length=1, description="Channel names from alerts.channels.")

    @property
    def rule_name(self) -> str:
        return self.name or self.on

    @model_validator(mode="after")
    def _threshold_fits(self) -> AlertRule:
        if self.threshold is not None and self.on not in ALERT_THRESHOLDS:
            raise ValueError(f"alerts of kind {self.on!r} take no threshold")
        if self.on == "drift" and self.threshold is not None and self.threshold >= 1:
            raise ValueError("a drift share threshold must be below 1")
        return self


class FreshnessObjective(Strict):
    """When a run's outputs must exist: an Airflow Deadline Alert on the pipeline DAG."""

    predictions_by: str = Field(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="HH:MM UTC on the day after the run's (daily) data interval, e.g. 06:00.",
    )
    notify: list[str] = Field(min_length=1, description="Channel names from alerts.channels.")


class AlertsSection(Strict):
    """Where alerts go: named channels (secrets in Airflow connections) and rules routing kinds to them."""

    channels: dict[str, Channel] = Field(default_factory=dict)
    rules: list[AlertRule] = Field(default_factory=list)
    freshness: FreshnessObjective | None = None

    @model_validator(mode="after")
    def _known_channels(self) -> AlertsSection:
        names = [rule.rule_name for rule in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique (give 'name' to rules of the same kind): {dupes}")
        used = [c for rule in self.rules for c in rule.notify]
        if self.freshness is not None:
            used += self.freshness.notify
        unknown = sorted(set(used) - set(self.channels))
        if unknown:
            raise ValueError(f"notify names channels not in alerts.channels: {unknown}")
        return self
