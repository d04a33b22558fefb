"""The `model` and `schedule` sections: what the model is called and when its pipeline runs."""

from __future__ import annotations

import datetime as dt
import re

from pydantic import Field, field_validator

from driftline.config.sections.base import MODEL_NAME_PATTERN, Strict

_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")


_CRON_PRESETS = {"@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"}


class ModelSection(Strict):
    """Who the model is: its name becomes part of every DAG id."""

    name: str = Field(pattern=MODEL_NAME_PATTERN, description="Lower-case letters, digits, underscores.")
    owner: str = Field(default="driftline", min_length=1)
    description: str = ""
    tags: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _no_double_underscore(cls, value: str) -> str:
        if "__" in value or value.endswith("_"):
            raise ValueError(
                f"{value!r} may not contain '__' or end with '_': DAG ids use '__' as a separator"
            )
        if value == "cost_report":
            raise ValueError(
                f"{value!r} is reserved: it is the id of the cost-report DAG (driftline__cost_report)"
            )
        return value


class ScheduleSection(Strict):
    """When the pipeline runs. `cron: null` means manual triggers only."""

    cron: str | None = "@daily"
    start_date: dt.date = dt.date(2026, 1, 1)
    catchup: bool = False
    max_active_runs: int = Field(
        default=4,
        ge=1,
        description="Runs of the pipeline at once (days waiting for data do not block other days); "
        "the registry steps still run one at a time.",
    )

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str | None) -> str | None:
        if value in ("@once", "@continuous"):
            raise ValueError(
                f"{value} gives runs no data interval to score: use a cron or preset such as @daily, "
                "or null for manual runs only"
            )
        if value is None or value in _CRON_PRESETS:
            return value
        from croniter import croniter

        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields) or not croniter.is_valid(value):
            raise ValueError(
                "not a valid cron expression: expected 5 fields (minute hour day month weekday) "
                f"or one of {sorted(_CRON_PRESETS)}"
            )
        return value
