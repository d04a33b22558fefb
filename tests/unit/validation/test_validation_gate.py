"""The gate on real Great Expectations: failures, warnings, schema checks, suite files, config errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from driftline.config.models import Expectation
from driftline.exceptions import ConfigError
from driftline.validation.gate import validate_frame


def test_corrupt_day_fails_the_example_config(example_config, corrupt_frame):
    report = validate_frame(corrupt_frame, example_config)
    assert report.success is False
    found = {(f.expectation, f.column) for f in report.failures}
    assert {
        ("expect_column_values_to_not_be_null", "customer_id"),
        ("expect_column_values_to_be_between", "tenure_months"),
        ("expect_column_values_to_be_in_set", "plan"),
    } <= found
    plan = next(f for f in report.failures if f.column == "plan")
    assert plan.unexpected_count == 50 and plan.element_count == 500 and plan.examples[0] == "gold"
    assert plan.source == "validation.expectations[4]" and plan.severity == "fail"
    assert json.loads(json.dumps(report.to_dict()))["success"] is False
    line = plan.describe()
    assert "expect_column_values_to_be_in_set, column 'plan', 50 unexpected of 500 (10.00%)" in line


def test_clean_day_passes(clean_config, clean_frame):
    report = validate_frame(clean_frame, clean_config)
    assert report.success, report.failure_lines()
    stats = report.statistics
    assert stats["failed"] == 0 and stats["rows"] == 500
    # 7 config expectations + min_rows + 9 column-exists + 7 type checks
    assert stats["evaluated"] == 7 + 1 + 9 + 7 and stats["passed"] == stats["evaluated"]


def test_warn_severity_reports_but_does_not_fail(clean_config, clean_frame):
    clean_frame.loc[clean_frame.index[:50], "usage_minutes"] = np.nan  # 10% null, the warn rule allows 5%
    report = validate_frame(clean_frame, clean_config)
    assert report.success is True and report.failures == []
    (warning,) = report.warnings
    assert (warning.expectation, warning.column, warning.severity) == (
        "expect_column_values_to_not_be_null",
        "usage_minutes",
        "warn",
    )
    assert warning.unexpected_count == 50
    assert report.summary()["warned"] == 1


def test_fail_severity_for_the_same_rule_fails(clean_config, clean_frame):
    clean_frame.loc[clean_frame.index[:50], "usage_minutes"] = np.nan
    clean_config.validation.expectations[-1].severity = "fail"
    report = validate_frame(clean_frame, clean_config)
    assert report.success is False and report.failures[0].column == "usage_minutes"


def test_min_rows(clean_config, clean_frame):
    clean_config.validation.min_rows = 1000
    report = validate_frame(clean_frame, clean_config)
    (failure,) = report.failures
    assert failure.expectation == "expect_table_row_count_to_be_between" and failure.observed_value == 500
    assert failure.source == "validation.min_rows"


def test_schema_checks(clean_config, clean_frame):
    broken = clean_frame.drop(columns=["autopay"]).assign(
        tenure_months=clean_frame["tenure_months"].astype(str)
    )
    report = validate_frame(broken, clean_config)
    found = {(f.expectation, f.column): f for f in report.failures}
    assert "missing" in found[("expect_column_to_exist", "autopay")].observed_value
    assert (
        found[("expect_column_values_to_be_of_type", "tenure_months")].observed_value
        == "expected int, found object"
    )
    clean_config.validation.schema_checks = False
    report = validate_frame(clean_frame.drop(columns=["autopay"]), clean_config)
    assert report.success


def test_expectation_on_missing_column_reports_the_gx_error(clean_config, clean_frame):
    report = validate_frame(clean_frame.drop(columns=["plan"]), clean_config)
    plan = next(
        f
        for f in report.failures
        if f.expectation == "expect_column_values_to_be_in_set" and f.column == "plan"
    )
    assert 'The column "plan" in BatchData does not exist' in plan.error


def test_unknown_expectation_names_the_config_field(clean_config, clean_frame):
    clean_config.validation.expectations.append(
        Expectation(type="expect_column_values_to_be_nul", kwargs={"column": "x"})
    )
    with pytest.raises(ConfigError) as info:
        validate_frame(clean_frame, clean_config)
    text = str(info.value)
    assert (
        "validation.expectations[7].type: unknown Great Expectations expectation 'expect_column_values_to_be_nul'"
        in text
    )
    assert "expect_column_values_to_be_null" in text  # the suggestion


def test_bad_kwargs_name_the_config_field(clean_config, clean_frame):
    clean_config.validation.expectations.append(
        Expectation(type="expect_column_values_to_be_between", kwargs={"colum": "x"})
    )
    with pytest.raises(
        ConfigError,
        match=r"(?s)validation.expectations\[7\].kwargs: invalid for expect_column_values_to_be_between",
    ):
        validate_frame(clean_frame, clean_config)


def test_suite_file(clean_config, clean_frame):
    clean_config.validation.suite = "include/expectations/churn_suite.json"
    report = validate_frame(clean_frame, clean_config)
    assert report.success and report.statistics["evaluated"] == 7 + 5 + 1 + 16
    clean_frame.loc[clean_frame.index[:10], "customer_id"] = [f"bad-{i}" for i in range(10)]
    clean_frame["monthly_charges"] = clean_frame["monthly_charges"] + 150  # mean out of range: a warn rule
    report = validate_frame(clean_frame, clean_config)
    assert [w.expectation for w in report.warnings] == ["expect_column_mean_to_be_between"]
    assert report.warnings[0].source == "suite:churn_suite.json.expectations[4]"
    assert report.success  # 10/500 bad ids is within mostly 0.95


def test_suite_file_errors(clean_config, clean_frame, tmp_path):
    clean_config.validation.suite = str(tmp_path / "missing.json")
    with pytest.raises(
        ConfigError, match=r"(?s)validation.suite \(.*missing.json\).*cannot read the suite file"
    ):
        validate_frame(clean_frame, clean_config)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"expectations": [{"type": "expect_nothing_at_all", "kwargs": {}}]}))
    clean_config.validation.suite = str(bad)
    with pytest.raises(ConfigError, match=r"(?s)suite:bad.json.expectations\[0\].type: unknown"):
        validate_frame(clean_frame, clean_config)
