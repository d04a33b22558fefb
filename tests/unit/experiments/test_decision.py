"""decide(): truth tables with known effect sizes, SRM, guardrails, CUPED, and the false-positive rate."""

from __future__ import annotations

import json

import numpy as np
import pytest
from driftline.experiments.decision import ArmSample, DecisionPlan, Guardrail, decide
from driftline.experiments.errors import ExperimentInputError


def arms(
    effect: float, n: int = 3000, *, seed: int = 1, sd: float = 2.0, n_challenger: int | None = None
) -> dict[str, ArmSample]:
    rng = np.random.default_rng(seed)
    return {
        "champion": ArmSample(rng.normal(10.0, sd, n)),
        "challenger": ArmSample(rng.normal(10.0 + effect, sd, n_challenger or n)),
    }


PLAN = DecisionPlan(alpha=0.05, min_samples_per_arm=100, min_effect=0.2)


@pytest.mark.parametrize(
    ("effect", "n", "plan", "action", "reason"),
    [
        (0.5, 3000, PLAN, "promote", "challenger significantly better"),
        (-0.5, 3000, PLAN, "stop", "challenger significantly worse"),
        (0.0, 500, PLAN, "continue", "not significant yet"),
        (0.0, 40_000, PLAN, "stop", "no effect of min_effect 0.2 or more"),
        (0.5, 50, PLAN, "continue", "too few samples"),
        (-0.5, 3000, DecisionPlan(min_effect=0.2, direction="minimize"), "promote", "significantly better"),
        (0.0, 3000, DecisionPlan(max_samples_per_arm=3000), "stop", "inconclusive"),
    ],
    ids=[
        "clear-win",
        "clear-loss",
        "no-difference",
        "no-difference-enough-data",
        "too-few",
        "minimize",
        "max",
    ],
)
def test_truth_table(effect: float, n: int, plan: DecisionPlan, action: str, reason: str) -> None:
    decision = decide(arms(effect, n), plan)
    assert decision.action == action, decision.reason
    assert reason in decision.reason
    assert decision.arms["champion"]["n"] == n
    json.dumps(decision.to_dict())  # recordable as it is


def test_win_reports_its_statistics() -> None:
    d = decide(arms(0.5), PLAN)
    assert d.p_value is not None and d.p_value <= 0.05
    assert d.lower is not None and d.upper is not None and 0 < d.lower < 0.5 < d.upper
    assert d.statistic is not None and d.statistic >= np.log(1 / 0.05)
    assert d.effect == pytest.approx(0.5, abs=0.15)
    assert d.samples_needed is None


def test_too_few_samples_says_how_many_more() -> None:
    d = decide(arms(0.5, 60, n_challenger=70), PLAN)
    assert (d.action, d.samples_needed, d.samples_needed_by_arm) == (
        "continue",
        70,
        {"champion": 40, "challenger": 30},
    )
    assert d.p_value is None


def test_continuing_estimates_the_remaining_sample() -> None:
    d = decide(arms(0.0, 500), PLAN)
    assert d.action == "continue"
    assert d.samples_needed is not None and d.samples_needed > 0
    assert d.samples_needed == sum(d.samples_needed_by_arm.values())
    # Those many more outcomes with the true effect of min_effect would be enough: check at that size.
    n_more = 500 + d.samples_needed_by_arm["champion"]
    later = decide(arms(0.2, n_more, seed=3, sd=np.sqrt(d.arms["champion"]["kpi_var"])), PLAN)
    assert later.upper is not None and later.lower is not None
    assert later.upper - later.lower < 2 * 0.2 * 1.1


def test_sample_ratio_mismatch_halts() -> None:
    d = decide(arms(0.5, 3000, n_challenger=3300), PLAN)  # 50/50 configured
    assert d.action == "halt"
    assert d.srm_p_value is not None and d.srm_p_value < 0.001
    assert "sample-ratio mismatch" in d.reason
    # The same counts fit a 47.6/52.4 split.
    ok = decide(
        arms(0.5, 3000, n_challenger=3300), DecisionPlan(shares={"champion": 0.476, "challenger": 0.524})
    )
    assert ok.action == "promote"


def test_srm_counts_assigned_entities_and_the_holdout() -> None:
    rng = np.random.default_rng(5)
    samples = {
        "champion": ArmSample(rng.normal(0, 1, 500), assigned=5000),
        "challenger": ArmSample(rng.normal(0, 1, 300), assigned=3000),
        "no_model": ArmSample(rng.normal(0, 1, 200), assigned=2000),
    }
    plan = DecisionPlan(shares={"champion": 0.5, "challenger": 0.3, "no_model": 0.2})
    assert decide(samples, plan).action != "halt"
    # No holdout configured but outcomes in it: a split that cannot happen happened.
    d = decide(samples, DecisionPlan(shares={"champion": 0.6, "challenger": 0.4}))
    assert (d.action, d.srm_p_value) == ("halt", 0.0)


def _guarded(revenue_drop: float, n: int = 3000) -> dict[str, ArmSample]:
    rng = np.random.default_rng(11)
    return {
        "champion": ArmSample(rng.normal(10, 2, n), guardrails={"revenue": rng.normal(100, 10, n)}),
        "challenger": ArmSample(
            rng.normal(10.5, 2, n), guardrails={"revenue": rng.normal(100 * (1 - revenue_drop), 10, n)}
        ),
    }


def test_guardrail_stops_a_harmful_challenger_whatever_the_kpi() -> None:
    plan = DecisionPlan(min_effect=0.2, guardrails={"revenue": 0.05})
    d = decide(_guarded(0.15), plan)
    assert d.action == "stop"
    assert "guardrail breached: revenue" in d.reason
    assert [b["metric"] for b in d.guardrail_breaches] == ["revenue"]
    assert d.guardrail_breaches[0]["relative_change"] == pytest.approx(-0.15, abs=0.01)
    # Within tolerance: the KPI decides.
    assert decide(_guarded(0.01), plan).action == "promote"
    # "Lower is better" guardrail (e.g. complaints): a rise is the harm.
    minimise = DecisionPlan(min_effect=0.2, guardrails={"revenue": Guardrail(0.05, "minimize")})
    assert decide(_guarded(0.15), minimise).action == "promote"


def test_guardrail_beyond_tolerance_but_not_significant_blocks_promotion() -> None:
    d = decide(
        _guarded(0.08, n=20),
        DecisionPlan(
            min_samples_per_arm=10, min_effect=1.0, mixing_variance=1.0, guardrails={"revenue": 0.0}
        ),
    )
    rail = d.guardrails["revenue"]
    assert not rail["significant_harm"]
    assert rail["at_risk"]
    assert d.action == "continue"


def test_cuped_detects_what_the_raw_kpi_cannot() -> None:
    rng = np.random.default_rng(2)
    n = 1500
    pre_a, pre_b = rng.normal(50, 10, n), rng.normal(50, 10, n)
    kpi_a = pre_a + rng.normal(0, 1.5, n)
    kpi_b = pre_b + 0.4 + rng.normal(0, 1.5, n)
    pre_b[:30] = np.nan  # entities without a pre-period: not adjusted
    samples = {"champion": ArmSample(kpi_a, covariate=pre_a), "challenger": ArmSample(kpi_b, covariate=pre_b)}
    raw = decide(samples, DecisionPlan(min_effect=0.3))
    adjusted = decide(samples, DecisionPlan(min_effect=0.3, covariate="pre_kpi"))
    assert raw.action == "continue"
    assert adjusted.action == "promote", adjusted.reason
    assert adjusted.cuped is not None
    assert adjusted.cuped["variance_reduction"] > 0.9
    assert adjusted.cuped["missing_covariate"] == 30
    assert adjusted.effect == pytest.approx(0.4, abs=0.2)


def test_bad_input_is_named() -> None:
    with pytest.raises(ExperimentInputError, match="shares must sum to at most 1"):
        DecisionPlan(shares={"champion": 0.6, "challenger": 0.6})
    with pytest.raises(ExperimentInputError, match="alpha must be between 0 and 1"):
        DecisionPlan(alpha=0)
    with pytest.raises(ExperimentInputError, match="no 'challenger' arm"):
        decide({"champion": ArmSample([1.0, 2.0])}, PLAN)
    with pytest.raises(ExperimentInputError, match="KPI of arm 'challenger' has 1 missing"):
        decide({"champion": ArmSample([1.0, 2.0]), "challenger": ArmSample([1.0, float("nan")])}, PLAN)
    with pytest.raises(ExperimentInputError, match="have none"):
        decide(arms(0.5), DecisionPlan(covariate="pre"))
    with pytest.raises(ExperimentInputError, match="no values of guardrail metric 'revenue'"):
        decide(arms(0.5), DecisionPlan(guardrails={"revenue": 0.05}))


def test_unassigned_outcomes_are_reported() -> None:
    assert decide(arms(0.5), PLAN, unassigned=17).to_dict()["unassigned"] == 17


def test_false_positive_rate_of_daily_decisions_is_at_most_alpha() -> None:
    """200 A/A experiments decided after each of 15 daily batches: promotions + stops <= alpha."""
    rng = np.random.default_rng(99)
    sims, days, batch, alpha = 200, 15, 60, 0.05
    plan = DecisionPlan(alpha=alpha, min_samples_per_arm=100, min_effect=0.5)
    wrong = 0
    for _ in range(sims):
        a, b = rng.normal(10, 3, days * batch), rng.normal(10, 3, days * batch)
        for day in range(1, days + 1):
            n = day * batch
            d = decide({"champion": ArmSample(a[:n]), "challenger": ArmSample(b[:n])}, plan)
            if d.action in ("promote", "halt") or (d.action == "stop" and "significantly" in d.reason):
                wrong += 1
                break
            if d.action == "stop":  # no effect of min_effect: the right call under no difference
                break
    assert wrong / sims <= alpha


def test_chi_square_tail_matches_the_tables() -> None:
    from driftline.experiments.decision import chi2_sf

    # 95% and 99.9% quantiles of chi-square with 1 and 2 degrees of freedom.
    assert chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-9)
    assert chi2_sf(10.827566170662733, 1) == pytest.approx(0.001, rel=1e-9)
    assert chi2_sf(5.991464547107979, 2) == pytest.approx(0.05, rel=1e-9)
    assert chi2_sf(13.815510557964274, 2) == pytest.approx(0.001, rel=1e-9)


def test_a_guardrail_with_a_champion_baseline_of_zero_is_breached_by_real_harm():
    """0% complaints for the champion, 20% for the challenger: relative change undefined, harm obvious."""
    import numpy as np
    from driftline.experiments.decision import ArmSample, DecisionPlan, Guardrail, decide

    rng = np.random.default_rng(3)
    n = 1000
    kpi_a, kpi_b = rng.normal(0, 1, n), rng.normal(0.5, 1, n)  # the KPI alone would promote
    complaints_a = np.zeros(n)
    complaints_b = (rng.random(n) < 0.2).astype(float)
    plan = DecisionPlan(
        min_samples_per_arm=100,
        shares={"champion": 0.5, "challenger": 0.5},
        guardrails={"complaints": Guardrail(0.05, direction="minimize")},
    )
    decision = decide(
        {
            "champion": ArmSample(kpi_a, guardrails={"complaints": complaints_a}),
            "challenger": ArmSample(kpi_b, guardrails={"complaints": complaints_b}),
        },
        plan,
    )
    assert decision.action == "stop", decision.reason
    assert "champion baseline of 0" in decision.reason
    rail = decision.guardrails["complaints"]
    assert rail["breached"] and rail["relative_change"] is None
    # a maximised metric whose champion baseline is 0 and the challenger's is negative: also harm
    revenue_b = -np.abs(rng.normal(1.0, 0.5, n))
    plan2 = DecisionPlan(min_samples_per_arm=100, guardrails={"revenue": Guardrail(0.05)})
    decision2 = decide(
        {
            "champion": ArmSample(kpi_a, guardrails={"revenue": np.zeros(n)}),
            "challenger": ArmSample(kpi_b, guardrails={"revenue": revenue_b}),
        },
        plan2,
    )
    assert decision2.action == "stop" and decision2.guardrails["revenue"]["breached"]
    # and no harm at all (both 0) is no breach
    decision3 = decide(
        {
            "champion": ArmSample(kpi_a, guardrails={"revenue": np.zeros(n)}),
            "challenger": ArmSample(kpi_b, guardrails={"revenue": np.zeros(n)}),
        },
        plan2,
    )
    assert decision3.action == "promote", decision3.reason


def test_srm_of_what_came_back_halts_when_one_arm_lost_a_tenth_of_its_outcomes() -> None:
    """Served 50/50 and the hash is fine; the challenger's outcomes came back 10% less often."""
    rng = np.random.default_rng(8)
    served = 20_000
    plan = DecisionPlan(min_samples_per_arm=100, shares={"champion": 0.5, "challenger": 0.5})
    fine = {
        "champion": ArmSample(rng.normal(0, 1, 8000), assigned=served),
        "challenger": ArmSample(rng.normal(0, 1, 8000), assigned=served),
    }
    d = decide(fine, plan)
    assert d.action != "halt" and d.srm_outcomes_p_value is not None and d.srm_outcomes_p_value > 0.001
    lost = {
        "champion": ArmSample(rng.normal(0, 1, 8000), assigned=served),
        "challenger": ArmSample(rng.normal(0, 1, 7200), assigned=served),
    }
    d = decide(lost, plan)
    assert d.action == "halt", d.reason
    assert "what came back" in d.reason and d.srm_outcomes_p_value < 1e-6
    # the served counts alone fit the shares: the old check (hash against itself) saw nothing
    assert d.srm_p_value == 1.0


def test_outcome_srm_edge_cases() -> None:
    from driftline.experiments.decision import outcome_srm_p_value

    assert outcome_srm_p_value({"champion": 10, "challenger": 5}, {"champion": 100, "challenger": 0}) == 0.0
    assert outcome_srm_p_value({"champion": 101}, {"champion": 100, "challenger": 100}) == 0.0
    assert outcome_srm_p_value({"champion": 0, "challenger": 0}, {"champion": 100, "challenger": 100}) == 1.0
