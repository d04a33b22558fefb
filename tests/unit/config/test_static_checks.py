"""`driftline validate`'s static checks, and a config error at run time that is never a quarantine."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from driftline.cli import main
from driftline.config.checks import problems
from driftline.config.loader import load_config
from driftline.exceptions import ConfigError

REPO = Path(__file__).resolve().parents[3]


def _write(tmp_path: Path, example_config_path: Path, edit) -> Path:
    data = yaml.safe_load(example_config_path.read_text())
    edit(data)
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _validate(path: Path, capsys, *extra: str) -> tuple[int, str]:
    code = main(["validate", *extra, str(path)])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def test_the_example_config_has_no_static_problems(example_config):
    assert problems(example_config, deep=True) == []


def test_an_expectation_on_a_column_that_is_not_loaded_fails_validate(tmp_path, capsys, example_config_path):
    """It passed `driftline validate`, then GX failed at run time and a good day was quarantined."""
    path = _write(
        tmp_path,
        example_config_path,
        lambda d: d["validation"]["expectations"].append(
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "region"}}
        ),
    )
    code, out = _validate(path, capsys, "--quick")
    assert code == 1
    assert f"FAIL {path}: 1 error(s)" in out
    assert "validation.expectations[7].kwargs.column: column 'region' is not loaded" in out


def test_a_column_list_naming_an_unloaded_column_fails(tmp_path, example_config_path):
    path = _write(
        tmp_path,
        example_config_path,
        lambda d: d["validation"]["expectations"].__setitem__(
            1,
            {
                "type": "expect_compound_columns_to_be_unique",
                "kwargs": {"column_list": ["customer_id", "day"]},
            },
        ),
    )
    found = problems(load_config(path))
    assert found == [
        "validation.expectations[1].kwargs.column_list: column 'day' is not loaded: the pipeline loads only "
        "data.entity_id, data.timestamp, data.features and data.label (customer_id, event_time, tenure_months, "
        "monthly_charges, support_calls, usage_minutes, plan, autopay, churned); add it to data.features or "
        "remove the expectation"
    ]


def test_a_suite_file_expectation_is_checked_too(tmp_path, example_config_path, monkeypatch):
    suite = tmp_path / "suite.json"
    suite.write_text(
        json.dumps({"expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "zip"}}]})
    )
    path = _write(tmp_path, example_config_path, lambda d: d["validation"].__setitem__("suite", str(suite)))
    found = problems(load_config(path))
    assert len(found) == 1 and found[0].startswith(
        "suite:suite.json.expectations[0].kwargs.column: column 'zip'"
    )
    suite.unlink()
    found = problems(load_config(path))
    assert found == [f"validation.suite ({suite}): cannot read the suite file: No such file or directory"]


def test_deep_checks_name_unknown_expectations_and_bad_kwargs(tmp_path, example_config_path):
    path = _write(
        tmp_path,
        example_config_path,
        lambda d: d["validation"]["expectations"].extend(
            [
                {"type": "expect_column_values_to_be_betwen", "kwargs": {"column": "plan"}},
                {"type": "expect_column_values_to_be_between", "kwargs": {"column": "plan", "mostly": 7}},
            ]
        ),
    )
    config = load_config(path)
    assert problems(config) == []  # --quick does not import Great Expectations
    found = problems(config, deep=True)
    assert any(
        "validation.expectations[7].type: unknown Great Expectations expectation 'expect_column_values_to_be_betwen'"
        in p
        for p in found
    ), found
    assert any(p.startswith("validation.expectations[8].kwargs: invalid for") for p in found), found


def test_string_labels_need_a_positive_class(tmp_path, capsys, example_config_path):
    def strings(d):
        d["validation"]["expectations"][5]["kwargs"]["value_set"] = ["stayed", "left"]

    path = _write(tmp_path, example_config_path, strings)
    code, out = _validate(path, capsys, "--quick")
    assert code == 1
    assert (
        "data.positive_class: required: the label 'churned' takes the values ['stayed', 'left'] "
        "(validation.expectations[5].kwargs.value_set), not 0/1" in out
    )

    def wrong(d):
        strings(d)
        d["data"]["positive_class"] = "churned"

    assert problems(load_config(_write(tmp_path, example_config_path, wrong))) == [
        "data.positive_class: 'churned' is not one of the label's values ['stayed', 'left'] "
        "(validation.expectations[5].kwargs.value_set)"
    ]

    def right(d):
        strings(d)
        d["data"]["positive_class"] = "left"

    assert problems(load_config(_write(tmp_path, example_config_path, right))) == []


def test_a_metric_the_task_does_not_compute(tmp_path, example_config_path):
    path = _write(tmp_path, example_config_path, lambda d: d["registry"].__setitem__("metric", "rmse"))
    assert problems(load_config(path)) == [
        "registry.metric: 'rmse' is not computed for training.task 'binary_classification': use one of "
        "roc_auc, accuracy, f1, precision, recall, log_loss, pr_auc"
    ]


def test_a_sql_query_that_does_not_select_the_label(tmp_path, example_config_path):
    def sql(d):
        d["data"]["source"] = {
            "kind": "sql",
            "conn_id": "warehouse",
            "query": "SELECT customer_id, event_time, tenure_months, monthly_charges, support_calls, "
            "usage_minutes, plan, autopay FROM subscribers WHERE event_time >= :window_start",
        }

    found = problems(load_config(_write(tmp_path, example_config_path, sql)))
    assert found == [
        "data.source.query: does not select ['churned']: the query must return data.entity_id, "
        "data.timestamp, data.features and data.label by these names"
    ]


def test_an_estimator_module_that_does_not_exist(tmp_path, example_config_path):
    path = _write(
        tmp_path,
        example_config_path,
        lambda d: d["training"]["estimator"].__setitem__(
            "class_path", "sklearn.ensembel.HistGradientBoostingClassifier"
        ),
    )
    assert problems(load_config(path)) == [
        "training.estimator.class_path: module 'sklearn.ensembel' cannot be found in this environment"
    ]


def _context(day: int) -> dict:
    start = dt.datetime(2026, 1, day, tzinfo=dt.UTC)
    return {
        "data_interval_start": start,
        "data_interval_end": start + dt.timedelta(days=1),
        "params": {},
        "ti": SimpleNamespace(
            dag_id="driftline__churn",
            run_id=f"scheduled__2026-01-{day:02d}",
            task_id="validate_current",
            try_number=1,
        ),
    }


@pytest.fixture
def churn_day(driftline_home: Path, churn_generator) -> Path:
    churn_generator.generate(driftline_home / "data", dt.date(2026, 1, 1), 6, rows=200)
    return driftline_home / "data"


def _load_and_validate(config, day: int):
    from driftline.operators.load import LoadWindowOperator
    from driftline.operators.validate import ValidateSnapshotOperator

    ref = LoadWindowOperator(model_config=config, task_id="load_current").execute(_context(day))
    op = ValidateSnapshotOperator(model_config=config, snapshot=ref, window="current")
    return ref, op


def test_at_run_time_an_unloaded_column_is_a_config_error_not_a_quarantine(
    tmp_path, example_config_path, churn_day, driftline_home
):
    from driftline.data.snapshots import read_manifest

    path = _write(
        tmp_path,
        example_config_path,
        lambda d: d["validation"]["expectations"].append(
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "region"}}
        ),
    )
    config = load_config(path)
    ref, op = _load_and_validate(config, 3)
    with pytest.raises(ConfigError) as caught:
        op.execute(_context(3))
    assert caught.value.path == str(path)
    assert "validation.expectations[7].kwargs.column: column 'region' is not loaded" in str(caught.value)
    assert read_manifest(ref["uri"]).status == "raw"  # not quarantined: the day's data is fine
    assert not list((driftline_home / "snapshots").rglob("*quarantine*"))


def test_at_run_time_an_expectation_that_raises_on_good_data_is_a_config_error(
    tmp_path, example_config_path, churn_day
):
    from driftline.data.snapshots import read_manifest

    path = _write(
        tmp_path,
        example_config_path,
        lambda d: d["validation"]["expectations"].append(
            {
                "type": "expect_column_values_to_match_regex",
                "kwargs": {"column": "tenure_months", "regex": "^[0-9]+$"},
            }
        ),
    )
    config = load_config(path)
    ref, op = _load_and_validate(config, 4)
    try:
        result = op.execute(_context(4))
    except ConfigError as exc:
        assert exc.path == str(
            path
        ) and "validation.expectations[7]: expect_column_values_to_match_regex" in str(exc)
        assert read_manifest(ref["uri"]).status == "raw"
    else:  # GX evaluated it (and it passed): then it is no config error either
        assert result["status"] == "validated"
