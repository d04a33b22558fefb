"""One look at a running A/B experiment: outcomes joined with the arms, decided, reported (Airflow-free).

Join: the arm of every entity is recomputed from the experiment's salt and shares
(driftline.experiments.assignment.assign_arms), so no assignment table is needed. An entity counts as
assigned when the batch inference served it in its arm during the experiment: `assigned_ids` are the
entity ids of the data windows with a served record (`served_ids`: store.record_served, written after a
run's last item), restricted to the arms that run served; a day that failed before scoring adds nobody. Outcomes of any other entity are never assigned:
they are counted and reported (`Decision.unassigned`, the report), never silently dropped or guessed
into an arm. The unit of analysis is the entity: an entity's outcomes over the experiment so far are
averaged (KPI, covariate and guardrail columns), so repeated daily outcomes of one entity do not count
as independent samples. The sample-ratio check compares the assigned entities per arm with the shares.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from driftline.experiments.assignment import ARMS, CHALLENGER, CHAMPION, assign_arms
from driftline.experiments.decision import ArmSample, Decision, DecisionPlan, Guardrail, decide
from driftline.experiments.errors import ExperimentInputError

if TYPE_CHECKING:
    import pandas as pd

    from driftline.config.models import AbTestSection
    from driftline.experiments.store import Experiment


@dataclass(frozen=True)
class Joined:
    """Outcomes per arm (one row per entity), what could not be joined, and the daily series."""

    samples: dict[str, ArmSample]
    unassigned: int
    unassigned_entities: int
    assigned: dict[str, int]
    daily: pd.DataFrame  # columns: date, arm, n, kpi_mean


def pre_exposure_covariate(pre_period: pd.DataFrame) -> pd.Series:
    """Each entity's mean covariate over the outcomes dated before the experiment (index: entity_id)."""
    if pre_period.empty:
        import pandas as pd

        return pd.Series(dtype=float)
    if "covariate" not in pre_period.columns:
        raise ExperimentInputError(
            f"the pre-period outcomes have no covariate column (have {list(pre_period.columns)})"
        )
    frame = pre_period[["entity_id", "covariate"]].copy()
    frame["entity_id"] = frame["entity_id"].astype(str)
    return frame.groupby("entity_id")["covariate"].mean().astype(float)


def served_ids(experiment: Experiment, entity_ids: Iterable[Any], served_arms: dict[str, int]) -> list[Any]:
    """The entity ids of one served data window whose arm (from the hash) that window served."""
    import numpy as np

    ids = np.asarray(list(entity_ids), dtype=object)
    if len(ids) == 0:
        return []
    arms = assign_arms(
        ids.astype(str),
        salt=experiment.salt,
        challenger_share=float(experiment.shares.get(CHALLENGER, 0.0)),
        holdout_share=float(experiment.shares.get("no_model", 0.0)),
    )
    served = [arm for arm, count in served_arms.items() if int(count) > 0]
    return list(ids[np.isin(arms, served)])


def plan_for(ab: AbTestSection, experiment: Experiment) -> DecisionPlan:
    """The decision plan of an experiment: the config's decision section, the experiment's own shares."""
    shares = {arm: float(s) for arm, s in experiment.shares.items() if float(s) > 0}
    outcomes = ab.outcomes
    return DecisionPlan(
        alpha=ab.decision.alpha,
        min_samples_per_arm=ab.decision.min_samples_per_arm,
        direction=ab.decision.direction,
        min_effect=ab.decision.min_effect,
        mixing_variance=ab.decision.mixing_variance,
        futility=ab.decision.futility,
        design=ab.decision.design,
        planned_looks=ab.decision.planned_looks or ab.decision.max_days,
        look=len(experiment.decisions) + 1,
        max_samples_per_arm=ab.decision.max_samples_per_arm,
        shares=shares,
        guardrails={column: Guardrail(drop) for column, drop in ab.decision.guardrails.items()},
        covariate="covariate" if outcomes is not None and outcomes.covariate else None,
    )


def join_outcomes(
    outcomes: pd.DataFrame,
    experiment: Experiment,
    assigned_ids: Iterable[Any],
    *,
    covariate: bool = False,
    guardrails: Iterable[str] = (),
    pre_period: pd.DataFrame | None = None,
) -> Joined:
    """Join standard-named outcomes (entity_id, date, kpi[, covariate][, guardrails]) with the arms.

    CUPED's covariate must be pre-exposure: with `covariate`, each entity's covariate is the mean of its
    covariate column over `pre_period` (standard-named outcomes dated before the experiment started,
    `pre_exposure_covariate`), never over the outcome rows inside the experiment's window, which the
    treatment may have moved. An entity without pre-period rows gets none (CUPED leaves it unadjusted).
    """
    import numpy as np
    import pandas as pd

    guardrails = list(guardrails)
    if covariate and pre_period is None:
        raise ExperimentInputError(
            "CUPED (ab_test.outcomes.covariate) needs the pre-exposure outcomes (pre_period): the covariate "
            "is taken from before the experiment started, never from inside its window"
        )
    needed = ["entity_id", "date", "kpi", *guardrails]
    missing = [c for c in needed if c not in outcomes.columns]
    if missing:
        raise ExperimentInputError(
            f"the outcomes frame has no column(s) {missing} (has {list(outcomes.columns)})"
        )
    assigned_set = pd.Index(pd.unique(pd.Series(list(assigned_ids), dtype=object).astype(str)))
    challenger_share = float(experiment.shares.get(CHALLENGER, 0.0))
    holdout_share = float(experiment.shares.get("no_model", 0.0))

    def arms_of(ids: Any) -> Any:
        if len(ids) == 0:
            return np.array([], dtype="<U10")
        return assign_arms(
            ids, salt=experiment.salt, challenger_share=challenger_share, holdout_share=holdout_share
        )

    assigned_arms = arms_of(assigned_set.to_numpy())
    assigned_counts = {arm: int((assigned_arms == arm).sum()) for arm in ARMS}
    frame = outcomes[needed].copy()
    frame["entity_id"] = frame["entity_id"].astype(str)
    known = frame["entity_id"].isin(assigned_set)
    unassigned = int((~known).sum())
    unassigned_entities = int(frame.loc[~known, "entity_id"].nunique())
    frame = frame[known]
    frame["arm"] = arms_of(frame["entity_id"].to_numpy())
    frame["day"] = pd.to_datetime(frame["date"], utc=True).dt.floor("D")
    value_cols = ["kpi", *guardrails]
    per_entity = frame.groupby(["arm", "entity_id"], sort=False)[value_cols].mean()
    if covariate:
        assert pre_period is not None  # noqa: S101 - checked by the caller when CUPED is on; narrows the type
        pre = pre_exposure_covariate(pre_period)
        per_entity["covariate"] = pre.reindex(per_entity.index.get_level_values(1)).to_numpy()
    samples: dict[str, ArmSample] = {}
    for arm in ARMS:
        if arm not in per_entity.index.get_level_values(0) and arm not in (CHAMPION, CHALLENGER):
            continue
        rows = (
            per_entity.xs(arm, level=0)
            if arm in per_entity.index.get_level_values(0)
            else per_entity.iloc[:0]
        )
        samples[arm] = ArmSample(
            kpi=rows["kpi"].to_numpy(dtype=float),
            covariate=rows["covariate"].to_numpy(dtype=float) if covariate else None,
            guardrails={g: rows[g].to_numpy(dtype=float) for g in guardrails},
            assigned=assigned_counts[arm],
        )
    daily = (
        frame.groupby(["day", "arm"])["kpi"]
        .agg(n="size", kpi_mean="mean")
        .reset_index()
        .rename(columns={"day": "date"})
    )
    return Joined(samples, unassigned, unassigned_entities, assigned_counts, daily)


def evaluate(
    joined: Joined, plan: DecisionPlan, *, days_running: float | None = None, max_days: int | None = None
) -> Decision:
    """`decide` on the joined outcomes; an experiment past `max_days` without a verdict stops."""
    from dataclasses import replace

    decision = decide(joined.samples, plan, unassigned=joined.unassigned)
    if (
        decision.action == "continue"
        and max_days is not None
        and days_running is not None
        and days_running >= max_days
    ):
        return replace(
            decision,
            action="stop",
            reason=f"no verdict after {days_running:.0f} day(s) (ab_test.decision.max_days {max_days}): "
            f"the champion stays; {decision.reason}",
            samples_needed=None,
            samples_needed_by_arm={},
        )
    return decision


def evaluation_record(decision: Decision, joined: Joined) -> dict[str, Any]:
    """What the experiment store keeps as `last_evaluation` (arms: {arm: {n, kpi_mean, kpi_var}})."""
    arms = {
        arm: {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in summary.items()}
        for arm, summary in decision.arms.items()
    }
    return {
        "arms": arms,
        "assigned": dict(joined.assigned),
        "unassigned": joined.unassigned,
        "unassigned_entities": joined.unassigned_entities,
        "action": decision.action,
        "p_value": decision.p_value,
        "effect": decision.effect,
        "at": dt.datetime.now(dt.UTC).isoformat(),
    }


def report_markdown(experiment: Experiment, decision: Decision, joined: Joined, plot_name: str | None) -> str:
    """The evaluation report: the verdict, its statistics, the arms, the unjoined outcomes, the plot."""
    d = decision.to_dict()

    def num(value: Any) -> str:
        return "n/a" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)

    lines = [
        f"# A/B test of `{experiment.model}`: challenger v{experiment.challenger_version} vs champion "
        f"v{experiment.champion_version}",
        "",
        f"Experiment #{experiment.id}, started {experiment.started_at:%Y-%m-%d %H:%M} UTC, salt `{experiment.salt}`, "
        f"shares {', '.join(f'{a} {s:.0%}' for a, s in experiment.shares.items() if s > 0)}.",
        "",
        f"## Decision: **{decision.action}**",
        "",
        decision.reason,
        "",
        "Test: mixture sequential probability ratio test (mSPRT, normal mixing distribution), always valid "
        "under a look after every daily batch.",
        "",
        "| statistic | value |",
        "|---|---:|",
        *(
            f"| {name} | {num(d.get(key))} |"
            for name, key in (
                ("challenger - champion", "effect"),
                ("always-valid interval, lower", "lower"),
                ("always-valid interval, upper", "upper"),
                ("always-valid p-value", "p_value"),
                ("log likelihood ratio", "statistic"),
                ("alpha", "alpha"),
                ("mixing variance", "mixing_variance"),
                ("sample-ratio check p-value", "srm_p_value"),
                ("more outcomes needed", "samples_needed"),
            )
        ),
        "",
        "## Arms",
        "",
        "| arm | assigned entities | entities with outcomes | KPI mean | KPI variance |",
        "|---|---:|---:|---:|---:|",
    ]
    for arm, summary in decision.arms.items():
        lines.append(
            f"| {arm} | {joined.assigned.get(arm, 0)} | {summary['n']} | {num(summary['kpi_mean'])} "
            f"| {num(summary['kpi_var'])} |"
        )
    lines += [
        "",
        f"Outcomes of entities never assigned (not scored during the experiment): **{joined.unassigned}** "
        f"rows of {joined.unassigned_entities} entities, left out of the comparison.",
    ]
    if decision.cuped:
        lines += ["", f"CUPED on the pre-period covariate: {decision.cuped}"]
    for name, rail in decision.guardrails.items():
        lines.append(
            f"- guardrail {name}: relative change {num(rail['relative_change'])}, allowed degradation "
            f"{rail['max_degradation']}, {'BREACHED' if rail['breached'] else 'at risk' if rail['at_risk'] else 'ok'}"
        )
    if plot_name:
        lines += ["", "## KPI per arm over time", "", f"![KPI per arm]({plot_name})"]
    return "\n".join(lines) + "\n"


def kpi_plot(daily: pd.DataFrame, path: str, title: str) -> None:
    """A PNG of the daily KPI mean per arm and its running mean, to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=False)
    for arm, rows in daily.sort_values("date").groupby("arm"):
        dates = rows["date"].dt.tz_convert(None) if hasattr(rows["date"].dt, "tz_convert") else rows["date"]
        axes[0].plot(dates, rows["kpi_mean"], marker="o", label=str(arm))
        running = (rows["kpi_mean"] * rows["n"]).cumsum() / rows["n"].cumsum()
        axes[1].plot(dates, running, marker=".", label=str(arm))
    axes[0].set_title("KPI mean per day")
    axes[1].set_title("KPI mean, running")
    for ax in axes:
        ax.legend()
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def days_between(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start).total_seconds() / 86_400.0
