"""The `validation` section: the expectations a window must meet."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from driftline.config.sections.base import Strict


class Expectation(Strict):
    """One Great Expectations expectation, by its snake_case name, e.g. expect_column_values_to_not_be_null."""

    type: str = Field(pattern=r"^expect_[a-z0-9_]+$")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    severity: Literal["fail", "warn"] = "fail"


class ValidationSection(Strict):
    """The Great Expectations gate every batch passes before training or scoring."""

    enabled: bool = True
    suite: str | None = Field(default=None, description="A GX suite JSON file under include/.")
    expectations: list[Expectation] = Field(default_factory=list)
    min_rows: int = Field(default=1, ge=1)
    schema_checks: bool = Field(
        default=True, description="Derive column-exists and type checks from the features."
    )
