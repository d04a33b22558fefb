"""The ab_test section: shares, salt, no_model default, outcomes source, decision settings."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from driftline.config.loader import deep_merge, load_config
from driftline.exceptions import ConfigError

BASE = """
model: {name: demo}
data:
  source: {kind: local, path: "data/dt={ds}/part.parquet"}
  entity_id: id
  timestamp: ts
  label: y
  features: [{name: a, type: float}]
training:
  estimator: {class_path: sklearn.linear_model.LogisticRegression}
inference: {table: demo-predictions}
ab_test:
  challenger_share: 0.2
  holdout_share: 0.1
  no_model_default: 0
  outcomes:
    source: {kind: local, path: "outcomes/dt={ds}/part.parquet"}
    entity_id: id
    date: outcome_date
    kpi: revenue
    label: churned
  decision: {alpha: 0.05, min_samples_per_arm: 500, max_days: 21, guardrails: {retained: 0.05}}
  on_new_challenger: replace
"""


def write(tmp_path: Path, change: dict | None = None, drop: tuple[str, ...] = ()) -> Path:
    data = deep_merge(yaml.safe_load(BASE), change or {})
    for key in drop:
        data["ab_test"].pop(key, None)
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def test_valid_section_loads_with_defaults_and_derived_values(tmp_path):
    config = load_config(write(tmp_path))
    ab = config.ab_test
    assert ab is not None and ab.enabled
    assert ab.shares == pytest.approx({"champion": 0.7, "challenger": 0.2, "no_model": 0.1})
    assert ab.salt_for("demo", 3) == "demo:v3"
    assert ab.on_new_challenger == "replace"
    assert ab.decision.guardrails == {"retained": 0.05}
    assert ab.outcomes is not None and ab.outcomes.source.kind == "local" and ab.outcomes.covariate is None


def test_configured_salt_wins(tmp_path):
    config = load_config(write(tmp_path, {"ab_test": {"salt": "spring-test"}}))
    assert config.ab_test is not None and config.ab_test.salt_for("demo", 3) == "spring-test"


def test_shares_must_sum_to_at_most_one(tmp_path):
    path = write(tmp_path, {"ab_test": {"challenger_share": 0.6, "holdout_share": 0.5}})
    assert problems(path) == [
        "ab_test: challenger_share (0.6) + holdout_share (0.5) = 1.1: the shares must sum to at most 1 "
        "(the champion arm gets the rest)"
    ]


def test_share_bounds_name_the_field(tmp_path):
    path = write(tmp_path, {"ab_test": {"challenger_share": 0}})
    assert problems(path) == ["ab_test.challenger_share: Input should be greater than 0 (got 0)"]


def test_holdout_needs_a_business_default(tmp_path):
    path = write(tmp_path, drop=("no_model_default",))
    assert problems(path) == [
        "ab_test: no_model_default is required when holdout_share > 0: it is the value written instead "
        "of a prediction for the no_model arm"
    ]


def test_enabled_test_needs_outcomes(tmp_path):
    path = write(tmp_path, drop=("outcomes",))
    assert problems(path) == [
        "ab_test: outcomes is required when the A/B test is enabled: the test is judged on them"
    ]


def test_enabled_test_needs_inference(tmp_path):
    data = deep_merge(yaml.safe_load(BASE), {})
    del data["inference"]
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(data))
    assert problems(path) == [
        "(top level): ab_test needs an inference section: both arms are scored by the batch inference"
    ]


def test_outcome_columns_must_be_distinct(tmp_path):
    path = write(tmp_path, {"ab_test": {"outcomes": {"kpi": "id"}}})
    assert problems(path) == ["ab_test.outcomes: kpi and entity_id name the same column 'id'"]


def test_guardrail_drop_bounds(tmp_path):
    path = write(tmp_path, {"ab_test": {"decision": {"guardrails": {"retained": 1.5}}}})
    assert problems(path) == [
        "ab_test.decision.guardrails: retained: the largest tolerated relative drop must be "
        "between 0 and 1 (exclusive) (got {'retained': 1.5})"
    ]


def test_outcomes_source_kind_is_checked(tmp_path):
    path = write(tmp_path, {"ab_test": {"outcomes": {"source": {"kind": "ftp", "path": "x"}}}})
    [problem] = problems(path)
    assert problem.startswith("ab_test.outcomes.source: unknown source kind")


def test_unknown_policy_is_an_error(tmp_path):
    path = write(tmp_path, {"ab_test": {"on_new_challenger": "queue"}})
    assert problems(path) == ["ab_test.on_new_challenger: Input should be 'wait' or 'replace' (got 'queue')"]


def test_example_config_describes_an_ab_test(example_config):
    ab = example_config.ab_test
    assert ab is not None and not ab.enabled and ab.outcomes is not None  # make demo switches it on
    assert ab.shares["no_model"] > 0 and ab.salt == "churn-ab-demo"


def test_disabled_section_needs_nothing_else(tmp_path):
    text = textwrap.dedent(BASE).replace("ab_test:\n", "ab_test:\n  enabled: false\n", 1)
    data = yaml.safe_load(text)
    del data["ab_test"]["outcomes"]
    del data["inference"]
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_config(path).ab_test is not None
