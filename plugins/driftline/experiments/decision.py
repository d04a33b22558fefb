"""The A/B decision: promote the challenger, stop the experiment, keep it running, or halt a broken split.

`decide(samples, plan)` is a pure function of the outcomes per arm and the plan, checked in order:
1. Sample-ratio mismatch, twice: (a) the entities served per arm against the configured shares (every
   arm with a positive share; an arm with no share that was served is a mismatch by itself), and (b) what
   came back against what was served: a chi-square test of the entities with outcomes per arm against
   the served entities per arm (expected outcomes in proportion to what each arm served). (b) is the one
   that sees a broken experiment: an arm that lost a tenth of its outcomes. A p-value below `srm_alpha`
   (strict, 0.001 as GrowthBook, because the check runs at every look) means the comparison is broken
   and nothing it measured can be trusted: "halt".
2. Too few samples: fewer than `min_samples_per_arm` outcomes in champion or challenger: "continue",
   with the outcomes still needed.
3. CUPED (Deng et al. 2013) when the plan names a covariate: each arm's KPI y becomes
   y - theta (x - mean x), with theta = cov(y, x) / var(x) pooled over champion and challenger and x the
   pre-period covariate (a missing x counts as the pooled mean, i.e. is not adjusted). The expected
   difference is unchanged; its variance shrinks by the squared correlation.
4. The mSPRT (driftline.experiments.sequential) of challenger minus champion on the KPI.
5. Guardrails: for each guardrail metric, the same always-valid test on that metric. A guardrail is
   breached when the challenger is significantly worse (its confidence sequence excludes 0 on the
   harmful side) and its point estimate is worse by more than the allowed relative degradation:
   "stop" at once, whatever the KPI says. A point estimate beyond the tolerance that is not yet
   significant blocks a promotion (the experiment continues).
6. KPI: significant (always-valid p-value <= alpha) and better in the plan's direction: "promote";
   significant and worse: "stop". With `min_effect` set, a confidence sequence inside
   (-min_effect, +min_effect) shows no effect worth a change: "stop". `max_samples_per_arm` reached
   without a verdict: "stop" (inconclusive). Otherwise "continue" with an estimate of the outcomes
   needed to detect an effect of `min_effect` (or, without it, of the effect observed so far).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from driftline.experiments.assignment import ARMS, CHALLENGER, CHAMPION
from driftline.experiments.errors import ExperimentInputError
from driftline.experiments.sequential import SequentialResult, msprt, samples_to_detect

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

Action = Literal["promote", "stop", "continue", "halt"]
Direction = Literal["maximize", "minimize"]
# Without min_effect or mixing_variance, the mixing distribution is centred on effects of this many
# pooled standard deviations of the KPI (a "small" effect).
DEFAULT_STANDARDISED_EFFECT = 0.1


@dataclass(frozen=True)
class Guardrail:
    """A metric the challenger must not degrade by more than `max_degradation` (relative, e.g. 0.05)."""

    max_degradation: float
    direction: Direction = "maximize"

    def __post_init__(self) -> None:
        if not (self.max_degradation >= 0.0 and math.isfinite(self.max_degradation)):
            raise ExperimentInputError(
                f"a guardrail's max_degradation must be a non-negative number, got {self.max_degradation!r}"
            )
        if self.direction not in ("maximize", "minimize"):
            raise ExperimentInputError(
                f"a guardrail's direction must be 'maximize' or 'minimize', got {self.direction!r}"
            )


@dataclass(frozen=True)
class DecisionPlan:
    """How to decide. `min_effect` is absolute, in KPI units; `shares` are the configured arm shares."""

    alpha: float = 0.05
    min_samples_per_arm: int = 100
    min_effect: float | None = None
    mixing_variance: float | None = None
    direction: Direction = "maximize"
    srm_alpha: float = 0.001
    shares: Mapping[str, float] = field(default_factory=lambda: {CHAMPION: 0.5, CHALLENGER: 0.5})
    guardrails: Mapping[str, Guardrail | float] = field(default_factory=dict)
    covariate: str | None = None
    max_samples_per_arm: int | None = None
    futility: bool = True
    design: Literal["msprt", "group_sequential"] = "msprt"
    planned_looks: int = 28  # group_sequential: the planned horizon (looks, one per daily evaluation)
    look: int = 1  # group_sequential: which look this is (1 = the first evaluation)

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 < self.alpha < 1.0:
            problems.append(f"alpha must be between 0 and 1, got {self.alpha!r}")
        if not 0.0 < self.srm_alpha < 1.0:
            problems.append(f"srm_alpha must be between 0 and 1, got {self.srm_alpha!r}")
        if int(self.min_samples_per_arm) < 2:
            problems.append(f"min_samples_per_arm must be at least 2, got {self.min_samples_per_arm!r}")
        if self.min_effect is not None and not (self.min_effect > 0 and math.isfinite(self.min_effect)):
            problems.append(f"min_effect must be a positive number, got {self.min_effect!r}")
        if self.mixing_variance is not None and not (
            self.mixing_variance > 0 and math.isfinite(self.mixing_variance)
        ):
            problems.append(f"mixing_variance must be a positive number, got {self.mixing_variance!r}")
        if self.direction not in ("maximize", "minimize"):
            problems.append(f"direction must be 'maximize' or 'minimize', got {self.direction!r}")
        unknown = sorted(set(self.shares) - set(ARMS))
        if unknown:
            problems.append(f"shares name unknown arm(s) {unknown}; arms are {list(ARMS)}")
        if any(not (0.0 <= float(v) <= 1.0) for v in self.shares.values()):
            problems.append(f"shares must be between 0 and 1, got {dict(self.shares)}")
        elif sum(float(v) for v in self.shares.values()) > 1.0 + 1e-9:
            problems.append(f"shares must sum to at most 1, got {dict(self.shares)}")
        if float(self.shares.get(CHAMPION, 0.0)) <= 0 or float(self.shares.get(CHALLENGER, 0.0)) <= 0:
            problems.append(f"champion and challenger need a positive share, got {dict(self.shares)}")
        if self.max_samples_per_arm is not None and self.max_samples_per_arm < self.min_samples_per_arm:
            problems.append(
                f"max_samples_per_arm ({self.max_samples_per_arm}) is below min_samples_per_arm "
                f"({self.min_samples_per_arm})"
            )
        if problems:
            raise ExperimentInputError("decision plan: " + "; ".join(problems))
        for rail in self.guardrails.values():
            if not isinstance(rail, Guardrail):
                Guardrail(float(rail))  # validates

    def guardrail(self, name: str) -> Guardrail:
        rail = self.guardrails[name]
        return rail if isinstance(rail, Guardrail) else Guardrail(float(rail))


@dataclass(frozen=True)
class ArmSample:
    """The outcomes of one arm: the KPI per entity, optional pre-period covariate and guardrail metrics.

    `assigned` is the number of entities assigned to the arm (for the sample-ratio check); by default
    the number of KPI outcomes.
    """

    kpi: npt.ArrayLike
    covariate: npt.ArrayLike | None = None
    guardrails: Mapping[str, npt.ArrayLike] = field(default_factory=dict)
    assigned: int | None = None


@dataclass(frozen=True)
class Decision:
    """The verdict of one look with the numbers behind it (JSON-ready through `to_dict`)."""

    action: Action
    reason: str
    statistic: float | None = None  # log mixture likelihood ratio of the mSPRT
    p_value: float | None = None  # always-valid p-value
    effect: float | None = None  # challenger minus champion (CUPED-adjusted when a covariate is used)
    lower: float | None = None  # always-valid confidence sequence of the effect
    upper: float | None = None
    relative_effect: float | None = None
    samples_needed: int | None = None  # more outcomes (champion + challenger) when continuing
    samples_needed_by_arm: dict[str, int] = field(default_factory=dict)
    srm_p_value: float | None = None
    srm_outcomes_p_value: float | None = None
    guardrail_breaches: list[dict[str, Any]] = field(default_factory=list)
    guardrails: dict[str, dict[str, Any]] = field(default_factory=dict)
    unassigned: int = 0
    arms: dict[str, dict[str, float | int]] = field(default_factory=dict)
    cuped: dict[str, Any] | None = None
    alpha: float | None = None
    mixing_variance: float | None = None

    def to_dict(self) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            if isinstance(value, float):
                return value if math.isfinite(value) else None
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, list):
                return [clean(v) for v in value]
            return value

        return {name: clean(getattr(self, name)) for name in self.__dataclass_fields__}


def _array(values: npt.ArrayLike, what: str) -> npt.NDArray[np.float64]:
    import numpy as np

    try:
        array = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ExperimentInputError(f"{what} must be numeric: {exc}") from exc
    bad = int((~np.isfinite(array)).sum())
    if bad:
        raise ExperimentInputError(f"{what} has {bad} missing or infinite value(s) among {len(array)}")
    return array


def kpi_summary(values: npt.NDArray[np.float64]) -> dict[str, float | int]:
    """n, mean, variance, and what the ROI interval (driftline.cost.roi) needs of the shape: whether the
    KPI is 0/1, and for a non-negative KPI the count, log-mean and log-variance of its positive values."""
    import numpy as np

    n = len(values)
    out: dict[str, float | int] = {
        "n": n,
        "kpi_mean": float(values.mean()) if n else math.nan,
        "kpi_var": float(values.var(ddof=1)) if n > 1 else math.nan,
    }
    if n and bool(np.all((values == 0) | (values == 1))):
        out["kpi_binary"] = 1
    elif n and bool(np.all(values >= 0)):
        logs = np.log(values[values > 0])
        out["kpi_positive_n"] = len(logs)
        out["kpi_log_mean"] = float(logs.mean()) if len(logs) else math.nan
        out["kpi_log_var"] = float(logs.var(ddof=1)) if len(logs) > 1 else math.nan
    return out


def chi2_sf(statistic: float, df: int) -> float:
    """Survival function of the chi-square distribution for 1 or 2 degrees of freedom (3 arms at most)."""
    if statistic <= 0:
        return 1.0
    if df == 1:
        return math.erfc(math.sqrt(statistic / 2.0))
    if df == 2:
        return math.exp(-statistic / 2.0)
    raise ExperimentInputError(f"chi-square with {df} degrees of freedom: at most 3 arms exist")


def srm_p_value(counts: Mapping[str, int], shares: Mapping[str, float]) -> float:
    """Chi-square p-value of the observed arm counts against the expected shares (1.0 without data).

    An arm with outcomes but no share gives 0.0 (a split that cannot happen happened).
    """
    expected_arms = [arm for arm in ARMS if float(shares.get(arm, 0.0)) > 0]
    if any(counts.get(arm, 0) > 0 for arm in ARMS if arm not in expected_arms):
        return 0.0
    observed = [int(counts.get(arm, 0)) for arm in expected_arms]
    total = sum(observed)
    if total == 0 or len(expected_arms) < 2:
        return 1.0
    weights = [float(shares[arm]) for arm in expected_arms]
    expected = [total * w / sum(weights) for w in weights]
    statistic = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    return chi2_sf(statistic, len(expected_arms) - 1)


def outcome_srm_p_value(returned: Mapping[str, int], served: Mapping[str, int]) -> float:
    """Chi-square p-value of the entities with outcomes per arm against the entities served per arm.

    Under "outcomes come back at the same rate in every arm" the returned counts split in proportion to
    the served counts. Outcomes of an arm that served nobody give 0.0; more outcomes than served
    entities in an arm give 0.0 (they cannot have come from what was served).
    """
    arms = [arm for arm in served if int(served[arm]) > 0]
    if any(int(returned.get(arm, 0)) > 0 for arm in returned if arm not in arms):
        return 0.0
    if any(int(returned.get(arm, 0)) > int(served[arm]) for arm in arms):
        return 0.0
    total_served = sum(int(served[a]) for a in arms)
    total_returned = sum(int(returned.get(a, 0)) for a in arms)
    if total_returned == 0 or len(arms) < 2:
        return 1.0
    expected = [total_returned * int(served[a]) / total_served for a in arms]
    statistic = sum(
        (int(returned.get(a, 0)) - e) ** 2 / e for a, e in zip(arms, expected, strict=True) if e > 0
    )
    return chi2_sf(statistic, len(arms) - 1)


def cuped_adjust(
    kpi: Mapping[str, npt.NDArray[np.float64]], covariate: Mapping[str, npt.NDArray[np.float64]]
) -> tuple[dict[str, npt.NDArray[np.float64]], dict[str, Any]]:
    """CUPED-adjusted KPI per arm (theta pooled over the arms given) and what the adjustment did."""
    import numpy as np

    y = np.concatenate([kpi[a] for a in kpi])
    x_all = np.concatenate([covariate[a] for a in kpi])
    known = np.isfinite(x_all)
    if known.sum() < 2:
        raise ExperimentInputError("CUPED needs the pre-period covariate of at least 2 entities")
    mean_x = float(x_all[known].mean())
    x_filled = np.where(known, x_all, mean_x)
    var_x = float(x_filled.var(ddof=1))
    theta = float(np.cov(y, x_filled, ddof=1)[0, 1] / var_x) if var_x > 0 else 0.0
    adjusted = {}
    for arm in kpi:
        x = np.where(np.isfinite(covariate[arm]), covariate[arm], mean_x)
        adjusted[arm] = kpi[arm] - theta * (x - mean_x)
    var_before = float(y.var(ddof=1))
    var_after = float(np.concatenate(list(adjusted.values())).var(ddof=1))
    info = {
        "theta": theta,
        "covariate_mean": mean_x,
        "missing_covariate": int((~known).sum()),
        "variance_reduction": 1.0 - var_after / var_before if var_before > 0 else 0.0,
    }
    return adjusted, info


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _relative(effect: float, base: float) -> float | None:
    return effect / abs(base) if base != 0 else None


def _guardrail(
    name: str,
    rail: Guardrail,
    champion: npt.NDArray[np.float64],
    challenger: npt.NDArray[np.float64],
    alpha: float,
) -> dict[str, Any]:
    """One guardrail's check: relative change (positive = better), significance of harm, breach."""
    import numpy as np

    base = float(champion.mean())
    sign = 1.0 if rail.direction == "maximize" else -1.0
    # The tolerated harm, in the metric's units. A champion baseline of 0 tolerates no harm at all:
    # the relative change is undefined there, so the comparison is absolute (any significant harm).
    tolerance = abs(base) * rail.max_degradation
    # The mixing distribution is centred on harms of the tolerance's size, but never narrower than
    # a tenth of the metric's pooled standard deviation (a baseline of 0 would make it ~0 and the
    # test blind: a mixing variance of 1e-24 never rejects).
    pooled_sd = float(np.sqrt((champion.var(ddof=1) + challenger.var(ddof=1)) / 2.0))
    scale = max(tolerance, abs(base) * 1e-3, DEFAULT_STANDARDISED_EFFECT * pooled_sd, 1e-12)
    result = msprt(
        base, float(champion.var(ddof=1)), len(champion),
        float(challenger.mean()), float(challenger.var(ddof=1)), len(challenger),
        alpha=alpha, mixing_variance=scale**2,
    )  # fmt: skip
    rel = _relative(sign * result.effect, base)
    # Harm is significant when the confidence sequence lies wholly on the harmful side of 0.
    harmful_bound = result.upper if sign > 0 else -result.lower
    significant = harmful_bound < 0
    beyond = -sign * result.effect > tolerance
    return {
        "metric": name,
        "direction": rail.direction,
        "max_degradation": rail.max_degradation,
        "champion_mean": base,
        "challenger_mean": float(challenger.mean()),
        "relative_change": rel,
        "absolute_change": sign * result.effect,
        "p_value": result.p_value,
        "significant_harm": bool(significant),
        "breached": bool(significant and beyond),
        "at_risk": bool(beyond and not significant),
    }


def _group_sequential(result: SequentialResult, plan: DecisionPlan) -> tuple[SequentialResult, bool, bool]:
    """The look's group-sequential test (driftline.experiments.group_sequential): two-sided, alpha/2
    spent per side with the O'Brien-Fleming-type function over `planned_looks` equally spaced looks.
    Returns the result with the repeated confidence interval (effect +/- bound x se), whether |z| crosses
    the bound, and whether this is the planned horizon's last look."""
    from dataclasses import replace

    from driftline.experiments.group_sequential import equally_spaced, obf_bounds

    looks = max(1, int(plan.planned_looks))
    look = min(max(1, int(plan.look)), looks)
    bound = obf_bounds(equally_spaced(looks)[:look], plan.alpha / 2.0)[-1]
    se = result.std_error
    z = result.effect / se if se > 0 else (math.inf if result.effect else 0.0)
    nominal = math.erfc(abs(z) / math.sqrt(2.0)) if math.isfinite(z) else 0.0
    adjusted = replace(
        result, p_value=nominal, lower=result.effect - bound * se, upper=result.effect + bound * se
    )
    return adjusted, abs(z) >= bound, look >= looks


def decide(samples: Mapping[str, ArmSample], plan: DecisionPlan, *, unassigned: int = 0) -> Decision:
    """The decision of one look at the experiment (see the module docstring for the rules)."""
    unknown = sorted(set(samples) - set(ARMS))
    if unknown:
        raise ExperimentInputError(f"samples name unknown arm(s) {unknown}; arms are {list(ARMS)}")
    for arm in (CHAMPION, CHALLENGER):
        if arm not in samples:
            raise ExperimentInputError(f"samples have no {arm!r} arm (got {sorted(samples)})")
    kpi = {arm: _array(sample.kpi, f"the KPI of arm {arm!r}") for arm, sample in samples.items()}
    arms = {arm: kpi_summary(values) for arm, values in kpi.items()}
    base: dict[str, Any] = {"unassigned": int(unassigned), "arms": arms, "alpha": plan.alpha}
    counts = {
        arm: int(sample.assigned if sample.assigned is not None else len(kpi[arm]))
        for arm, sample in samples.items()
    }
    srm = srm_p_value(counts, plan.shares)
    base["srm_p_value"] = srm
    served = {arm: int(sample.assigned) for arm, sample in samples.items() if sample.assigned is not None}
    returned = {arm: len(kpi[arm]) for arm in served}
    srm_out = outcome_srm_p_value(returned, served)
    base["srm_outcomes_p_value"] = srm_out
    if srm_out < plan.srm_alpha:
        return Decision(
            "halt",
            f"sample-ratio mismatch of what came back: outcomes per arm {returned} do not fit what was served "
            f"{served} (chi-square p = {srm_out:.3g} < srm_alpha {plan.srm_alpha}); outcomes were lost or "
            "gained unevenly, no result of this experiment can be trusted",
            **base,
        )
    if srm < plan.srm_alpha:
        expected = {a: float(s) for a, s in plan.shares.items() if float(s) > 0}
        return Decision(
            "halt",
            f"sample-ratio mismatch: counts {counts} do not fit the configured shares {expected} "
            f"(chi-square p = {srm:.3g} < srm_alpha {plan.srm_alpha}); the split is broken, "
            "no result of this experiment can be trusted",
            **base,
        )
    n_cp, n_ch = arms[CHAMPION]["n"], arms[CHALLENGER]["n"]
    need = int(plan.min_samples_per_arm)
    if n_cp < need or n_ch < need:
        by_arm = {CHAMPION: max(0, need - int(n_cp)), CHALLENGER: max(0, need - int(n_ch))}
        return Decision(
            "continue",
            f"too few samples: champion {n_cp}, challenger {n_ch} outcomes, at least {need} per arm "
            f"needed before deciding ({sum(by_arm.values())} more)",
            samples_needed=sum(by_arm.values()),
            samples_needed_by_arm=by_arm,
            **base,
        )
    compared = {CHAMPION: kpi[CHAMPION], CHALLENGER: kpi[CHALLENGER]}
    cuped = None
    if plan.covariate:
        missing = [a for a in compared if samples[a].covariate is None]
        if missing:
            raise ExperimentInputError(
                f"the plan adjusts for covariate {plan.covariate!r} (CUPED) but arm(s) {missing} have none"
            )
        import numpy as np

        covariates = {}
        for arm in compared:
            cov = np.asarray(samples[arm].covariate, dtype=np.float64).reshape(-1)
            if len(cov) != len(compared[arm]):
                raise ExperimentInputError(
                    f"arm {arm!r}: covariate {plan.covariate!r} has {len(cov)} values for "
                    f"{len(compared[arm])} KPI outcomes"
                )
            covariates[arm] = cov
        compared, cuped = cuped_adjust(compared, covariates)
        cuped["covariate"] = plan.covariate
    a, b = compared[CHAMPION], compared[CHALLENGER]
    var_a, var_b = float(a.var(ddof=1)), float(b.var(ddof=1))
    if plan.mixing_variance is not None:
        tau2 = plan.mixing_variance
    elif plan.min_effect is not None:
        tau2 = plan.min_effect**2
    else:
        pooled = (var_a * (len(a) - 1) + var_b * (len(b) - 1)) / (len(a) + len(b) - 2)
        tau2 = max((DEFAULT_STANDARDISED_EFFECT**2) * pooled, 1e-24)
    result: SequentialResult = msprt(
        float(a.mean()), var_a, len(a), float(b.mean()), var_b, len(b), alpha=plan.alpha, mixing_variance=tau2
    )
    sign = 1.0 if plan.direction == "maximize" else -1.0
    significant = result.p_value <= plan.alpha
    horizon = False
    if plan.design == "group_sequential":
        result, significant, horizon = _group_sequential(result, plan)
    rel = _relative(result.effect, float(a.mean()))
    stats: dict[str, Any] = {
        "statistic": result.log_likelihood_ratio,
        "p_value": result.p_value,
        "effect": result.effect,
        "lower": result.lower,
        "upper": result.upper,
        "relative_effect": rel,
        "cuped": cuped,
        "mixing_variance": tau2,
    }
    numbers = (
        f"challenger - champion = {_fmt(result.effect)} "
        f"(always-valid {1 - plan.alpha:.0%} interval [{_fmt(result.lower)}, {_fmt(result.upper)}]), "
        f"always-valid p = {result.p_value:.3g}, log LR = {_fmt(result.log_likelihood_ratio)}"
        + (f", CUPED on {plan.covariate}" if cuped else "")
    )
    guardrails = {}
    for name in plan.guardrails:
        values = {}
        for arm in (CHAMPION, CHALLENGER):
            if name not in samples[arm].guardrails:
                raise ExperimentInputError(f"arm {arm!r} has no values of guardrail metric {name!r}")
            values[arm] = _array(samples[arm].guardrails[name], f"guardrail {name!r} of arm {arm!r}")
            if len(values[arm]) < 2:
                raise ExperimentInputError(f"guardrail {name!r} of arm {arm!r} has fewer than 2 values")
        guardrails[name] = _guardrail(
            name, plan.guardrail(name), values[CHAMPION], values[CHALLENGER], plan.alpha
        )
    breaches = [g for g in guardrails.values() if g["breached"]]
    at_risk = [g for g in guardrails.values() if g["at_risk"]]
    stats |= {"guardrails": guardrails, "guardrail_breaches": breaches}
    if breaches:
        what = "; ".join(
            (
                f"{g['metric']} {-g['relative_change']:.1%} worse (allowed {g['max_degradation']:.1%}, "
                if g["relative_change"] is not None
                else f"{g['metric']} worse by {-g['absolute_change']:.4g} against a champion baseline of 0 "
                "(no harm tolerated there, "
            )
            + f"p = {g['p_value']:.3g})"
            for g in breaches
        )
        return Decision("stop", f"guardrail breached: {what}; {numbers}", **base, **stats)
    better = sign * result.effect > 0
    if significant and better:
        if at_risk:
            names = ", ".join(g["metric"] for g in at_risk)
            return Decision(
                "continue",
                f"challenger better on the KPI but guardrail(s) {names} are degraded beyond tolerance "
                f"(not yet significant): not promoted; {numbers}",
                **base,
                **stats,
            )
        return Decision("promote", f"challenger significantly better: {numbers}", **base, **stats)
    if significant:
        return Decision("stop", f"challenger significantly worse: {numbers}", **base, **stats)
    if (
        plan.futility
        and plan.min_effect is not None
        and -plan.min_effect < result.lower
        and result.upper < plan.min_effect
    ):
        return Decision(
            "stop",
            f"no effect of min_effect {_fmt(plan.min_effect)} or more: the interval lies within "
            f"+/-{_fmt(plan.min_effect)}; {numbers}",
            **base,
            **stats,
        )
    if horizon:
        return Decision(
            "stop",
            f"inconclusive at the planned horizon (look {plan.look} of {plan.planned_looks}): {numbers}",
            **base,
            **stats,
        )
    if plan.max_samples_per_arm is not None and min(n_cp, n_ch) >= plan.max_samples_per_arm:
        return Decision(
            "stop",
            f"inconclusive after max_samples_per_arm {plan.max_samples_per_arm}: {numbers}",
            **base,
            **stats,
        )
    target = plan.min_effect if plan.min_effect is not None else abs(result.effect)
    ratio = n_ch / n_cp
    needed = samples_to_detect(var_a, var_b, ratio, target, alpha=plan.alpha, mixing_variance=tau2)
    if needed is None:
        return Decision(
            "continue",
            f"not significant yet, and no effect to size the remaining sample by (set min_effect); {numbers}",
            **base,
            **stats,
        )
    by_arm = {
        CHAMPION: max(0, needed - int(n_cp)),
        CHALLENGER: max(0, math.ceil(needed * ratio) - int(n_ch)),
    }
    return Decision(
        "continue",
        f"not significant yet: about {sum(by_arm.values())} more outcomes (champion {by_arm[CHAMPION]}, "
        f"challenger {by_arm[CHALLENGER]}) to detect an effect of {_fmt(target)}; {numbers}",
        samples_needed=sum(by_arm.values()),
        samples_needed_by_arm=by_arm,
        **base,
        **stats,
    )
