"""The `ab_test` section: the A/B experiment's arms, outcomes and decision rule."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from driftline.config.sections.base import Strict
from driftline.config.sections.data import Source

Arm = Literal["champion", "challenger", "no_model"]


ARMS: tuple[str, ...] = ("champion", "challenger", "no_model")


class OutcomesSection(Strict):
    """The observed outcome per entity and date that an A/B test is judged on.

    Read from the same source kinds as the data (local, s3, sql), for a window of dates; joined
    with the arms recorded on the predictions by entity id.
    """

    source: Source
    entity_id: str = Field(min_length=1, description="Entity id column (matches data.entity_id values).")
    date: str = Field(min_length=1, description="Date or timestamp column of the outcome.")
    kpi: str = Field(min_length=1, description="Numeric business KPI column (e.g. revenue, retained 0/1).")
    label: str | None = Field(
        default=None, description="Observed label column, to compute the model metric per arm."
    )
    covariate: str | None = Field(
        default=None,
        description="Numeric pre-period covariate column for CUPED variance reduction (optional).",
    )

    @model_validator(mode="after")
    def _distinct(self) -> OutcomesSection:
        named = [("entity_id", self.entity_id), ("date", self.date), ("kpi", self.kpi)]
        named += [(f, v) for f, v in (("label", self.label), ("covariate", self.covariate)) if v]
        seen: dict[str, str] = {}
        for field, column in named:
            if column in seen:
                raise ValueError(f"{field} and {seen[column]} name the same column {column!r}")
            seen[column] = field
        return self


class AbDecisionSection(Strict):
    """How an A/B test is decided (by the evaluation DAG, after every daily batch)."""

    alpha: float = Field(
        default=0.05, gt=0, lt=0.5, description="False-positive rate of the sequential test."
    )
    direction: Literal["maximize", "minimize"] = Field(
        default="maximize", description="Whether a higher KPI is better."
    )
    min_samples_per_arm: int = Field(
        default=1000, ge=10, description="No decision before each arm has this many outcomes."
    )
    max_days: int = Field(
        default=28, ge=1, description="Stop (keep the champion) when no decision after this many days."
    )
    min_effect: float | None = Field(
        default=None,
        gt=0,
        description="Smallest KPI change worth detecting, absolute in KPI units: centres the mSPRT's mixing "
        "distribution (mixing variance min_effect^2) and enables the futility stop.",
    )
    mixing_variance: float | None = Field(
        default=None,
        gt=0,
        description="The mSPRT's mixing variance tau^2 (default: min_effect^2, else 0.01 x the pooled KPI "
        "variance).",
    )
    futility: bool = Field(
        default=True,
        description="With min_effect: stop (keep the champion) once the always-valid interval lies within "
        "+/-min_effect, i.e. no effect worth a change is left.",
    )
    design: Literal["msprt", "group_sequential"] = Field(
        default="msprt",
        description="The sequential test: 'msprt' (always valid, any number of looks) or "
        "'group_sequential' (Lan-DeMets O'Brien-Fleming-type bounds over planned_looks daily looks; "
        "more power at the planned horizon, stops there).",
    )
    planned_looks: int | None = Field(
        default=None,
        ge=1,
        description="group_sequential: the planned number of looks (one per daily evaluation; default max_days).",
    )
    max_samples_per_arm: int | None = Field(
        default=None,
        ge=10,
        description="Stop (keep the champion) when both arms have this many outcomes without a verdict.",
    )
    guardrails: dict[str, float] = Field(
        default_factory=dict,
        description="Outcome column -> largest tolerated relative drop of the challenger vs champion "
        "(0.05 = 5%); a larger drop stops the challenger early.",
    )

    @field_validator("guardrails")
    @classmethod
    def _drops(cls, value: dict[str, float]) -> dict[str, float]:
        for column, drop in value.items():
            if not 0 < drop < 1:
                raise ValueError(
                    f"{column}: the largest tolerated relative drop must be between 0 and 1 (exclusive)"
                )
        return value


class AbTestSection(Strict):
    """A/B test of a challenger that passed the gate, on deterministic shares of the entities.

    While an experiment runs, every batch inference assigns each entity an arm by a salted hash
    of its id: `challenger` (challenger_share) is scored by the challenger version, `no_model`
    (holdout_share) gets `no_model_default` instead of a prediction, `champion` (the rest) by
    the champion.
    """

    enabled: bool = True
    challenger_share: float = Field(
        default=0.1, gt=0, lt=1, description="Share of entities in the challenger arm."
    )
    holdout_share: float = Field(
        default=0.0, ge=0, lt=1, description="Share of entities in the no_model holdout arm."
    )
    salt: str | None = Field(
        default=None,
        min_length=1,
        description="Salt of the assignment hash (default: '<model>:v<challenger version>', a new split per experiment).",
    )
    no_model_default: str | int | float | bool | None = Field(
        default=None,
        description="The value written as the prediction for no_model entities (the business default, "
        "e.g. 0 = no retention offer); required when holdout_share > 0.",
    )
    outcomes: OutcomesSection | None = Field(
        default=None, description="Where the observed outcomes come from (required when enabled)."
    )
    decision: AbDecisionSection = Field(default_factory=AbDecisionSection)
    on_new_challenger: Literal["wait", "replace"] = Field(
        default="wait",
        description="A newer challenger passing the gate mid-experiment: 'wait' until the experiment ends, "
        "or 'replace' it (the running experiment ends as 'replaced').",
    )

    @model_validator(mode="after")
    def _shares(self) -> AbTestSection:
        total = self.challenger_share + self.holdout_share
        if total > 1 + 1e-9:
            raise ValueError(
                f"challenger_share ({self.challenger_share:g}) + holdout_share ({self.holdout_share:g}) = "
                f"{total:g}: the shares must sum to at most 1 (the champion arm gets the rest)"
            )
        if self.holdout_share > 0 and self.no_model_default is None:
            raise ValueError(
                "no_model_default is required when holdout_share > 0: it is the value written instead of "
                "a prediction for the no_model arm"
            )
        if self.enabled and self.outcomes is None:
            raise ValueError("outcomes is required when the A/B test is enabled: the test is judged on them")
        return self

    @property
    def shares(self) -> dict[str, float]:
        """{arm: share} of the three arms (champion gets the rest)."""
        champion = max(0.0, 1.0 - self.challenger_share - self.holdout_share)
        return {"champion": champion, "challenger": self.challenger_share, "no_model": self.holdout_share}

    def salt_for(self, model: str, challenger_version: int) -> str:
        """The assignment salt of an experiment of `challenger_version` (the configured one, or derived)."""
        return self.salt or f"{model}:v{int(challenger_version)}"
