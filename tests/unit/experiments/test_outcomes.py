"""The example generator's A/B outcomes (the challenger truly better) and loading them, schema-checked."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from driftline.config.models import AbTestSection
from driftline.experiments.assignment import assign_arms
from driftline.experiments.outcomes import OutcomesSchemaError, load_outcomes

START = dt.date(2026, 1, 1)


def section(root, **outcomes) -> AbTestSection:
    return AbTestSection.model_validate(
        {
            "challenger_share": 0.3,
            "holdout_share": 0.1,
            "no_model_default": 0,
            "outcomes": {
                "source": {"kind": "local", "path": f"{root}/churn_outcomes/dt={{ds}}/part.parquet"},
                "entity_id": "customer_id",
                "date": "outcome_date",
                "kpi": "retained",
                "label": "churned",
                "covariate": "prior_retained",
                **outcomes,
            },
            "decision": {"guardrails": {"revenue": 0.05}},
        }
    )


@pytest.fixture(scope="module")
def generated(churn_generator, tmp_path_factory):
    root = tmp_path_factory.mktemp("ab-data")
    churn_generator.generate(root, START, 6, rows=2000, drift_day=None, corrupt_day=None)
    return root


def utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def test_generated_outcomes_make_the_challenger_truly_better(generated):
    loaded = load_outcomes(section(generated), utc(START), utc(START + dt.timedelta(days=6)))
    df = loaded.df
    assert list(df.columns) == ["entity_id", "date", "kpi", "label", "covariate", "revenue"]
    assert len(df) == 6 * 2000 and len(loaded.partitions) == 6 and loaded.missing == []
    assert str(df["date"].dt.tz) == "UTC" and df["kpi"].dtype == "float64"
    # the generator used the config's split: recompute it from the ids and the example salt
    arms = assign_arms(df["entity_id"], salt="churn-ab-demo", challenger_share=0.3, holdout_share=0.1)
    means = df.groupby(arms)["kpi"].mean()
    assert means["challenger"] > means["champion"] + 0.03 > means["no_model"] + 0.06
    shares = pd.Series(arms).value_counts(normalize=True)
    assert shares["challenger"] == pytest.approx(0.3, abs=0.02) and shares["no_model"] == pytest.approx(
        0.1, abs=0.02
    )
    assert df["covariate"].corr(df["kpi"]) > 0.2  # a useful CUPED covariate


def test_a_window_with_no_outcomes_yet_is_empty_not_an_error(generated):
    later = START + dt.timedelta(days=30)
    loaded = load_outcomes(section(generated), utc(later), utc(later + dt.timedelta(days=2)))
    assert loaded.df.empty and loaded.note.startswith("no outcomes yet")


def test_a_missing_column_names_the_config_field(generated):
    ab = section(generated, kpi="clv")
    with pytest.raises(OutcomesSchemaError) as info:
        load_outcomes(ab, utc(START), utc(START + dt.timedelta(days=1)))
    path = f"{generated}/churn_outcomes/dt=2026-01-01/part.parquet"
    assert str(info.value) == (
        f"ab_test.outcomes.kpi: column 'clv' is not in the source ({path}: missing column(s) ['clv']; the file "
        "has ['customer_id', 'outcome_date', 'retained', 'churned', 'revenue', 'prior_retained'])"
    )


def test_a_non_numeric_kpi_names_the_config_field(generated, tmp_path):
    day = tmp_path / "churn_outcomes" / "dt=2026-01-01"
    day.mkdir(parents=True)
    df = pd.read_parquet(generated / "churn_outcomes" / "dt=2026-01-01" / "part.parquet")
    df.assign(retained=df["retained"].map({1: "yes", 0: "no"})).to_parquet(day / "part.parquet")
    with pytest.raises(OutcomesSchemaError) as info:
        load_outcomes(section(tmp_path), utc(START), utc(START + dt.timedelta(days=1)))
    assert str(info.value) == (
        f"outcomes in ['{day / 'part.parquet'}']: ab_test.outcomes.kpi: column 'retained' must be numeric, "
        f"found object (e.g. {df['retained'].map({1: 'yes', 0: 'no'}).head(3).tolist()})"
    )
