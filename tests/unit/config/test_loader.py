"""The config contract: every class of bad input gives an exact, file+field error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from driftline.config.loader import deep_merge, load_config, load_folder
from driftline.exceptions import ConfigError

MINIMAL = """
model: {name: demo}
data:
  source: {kind: local, path: "data/dt={ds}/part.parquet"}
  entity_id: id
  timestamp: ts
  label: y
  features: [{name: a, type: float}, {name: b, type: category}]
training:
  estimator: {class_path: sklearn.linear_model.LogisticRegression}
"""


def write(tmp_path: Path, text: str, name: str = "demo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def with_change(tmp_path: Path, change: dict, name: str = "demo.yaml", source: dict | None = None) -> Path:
    data = deep_merge(yaml.safe_load(MINIMAL), change)
    if source is not None:
        data["data"]["source"] = source
    return write(tmp_path, yaml.safe_dump(data), name)


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.path == str(path)
    assert str(info.value).startswith(f"{path}: {len(info.value.problems)} error(s)")
    return info.value.problems


def test_minimal_config_gets_defaults(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert config.model.name == "demo"
    assert config.schedule.cron == "@daily"
    assert config.training.backend == "local"
    assert config.registered_model_name == "demo"
    assert config.columns == ["id", "ts", "a", "b", "y"]


def test_example_config_is_valid(example_config):
    assert example_config.model.name == "churn"
    assert example_config.training.kubernetes.resources.gpu == 1


def test_unknown_field(tmp_path):
    path = with_change(tmp_path, {"model": {"ownr": "me"}})
    assert problems(path) == [
        "model.ownr: unknown field (check the spelling; see `driftline schema` for the fields) (got 'me')"
    ]


def test_wrong_type(tmp_path):
    path = with_change(tmp_path, {"schedule": {"catchup": "sometimes"}})
    assert problems(path) == [
        "schedule.catchup: Input should be a valid boolean, unable to interpret input (got 'sometimes')"
    ]


@pytest.mark.parametrize("cron", ["61 * * * *", "* * * *", "every day", "0 0 32 * *"])
def test_bad_cron(tmp_path, cron):
    path = with_change(tmp_path, {"schedule": {"cron": cron}})
    assert problems(path) == [
        "schedule.cron: not a valid cron expression: expected 5 fields (minute hour day month weekday) or one of "
        "['@daily', '@hourly', '@monthly', '@quarterly', '@weekly', '@yearly'] "
        f"(got {cron!r})"
    ]


@pytest.mark.parametrize("cron", ["@once", "@continuous"])
def test_schedules_without_an_interval_are_refused(tmp_path, cron):
    assert problems(with_change(tmp_path, {"schedule": {"cron": cron}})) == [
        f"schedule.cron: {cron} gives runs no data interval to score: use a cron or preset such as @daily, "
        f"or null for manual runs only (got {cron!r})"
    ]


@pytest.mark.parametrize("cron", ["0 0 * * MON-FRI", "@daily", "@weekly", "@monthly", None])
def test_good_cron_on_daily_partitions(tmp_path, cron):
    assert load_config(with_change(tmp_path, {"schedule": {"cron": cron}})).schedule.cron == cron


HOURLY = {"kind": "local", "path": "data/{ts:%Y-%m-%d/%H}/part.parquet"}


@pytest.mark.parametrize("cron", ["@hourly", "0 3 * * MON-FRI", "0 */6 * * *", "@daily"])
def test_sub_daily_cron_on_hourly_partitions(tmp_path, cron):
    assert (
        load_config(with_change(tmp_path, {"schedule": {"cron": cron}}, source=HOURLY)).schedule.cron == cron
    )


@pytest.mark.parametrize("cron", ["@hourly", "0 3 * * MON-FRI", "*/15 * * * *"])
def test_schedule_off_daily_partitions_is_refused(tmp_path, cron):
    [problem] = problems(with_change(tmp_path, {"schedule": {"cron": cron}}))
    assert problem == (
        f"(top level): schedule.cron {cron!r} fires at times that are not midnight UTC, but data.source.path "
        "'data/dt={ds}/part.parquet' has daily partitions: a run's data interval (from one fire time to the "
        "next) would cover part of a partition; use an hourly partition template (e.g. "
        "'.../{date:%Y-%m-%d}/{date:%H}/*.parquet' or '{ts:%Y-%m-%d/%H}'), or a schedule that fires at "
        "00:00 UTC (e.g. '0 0 * * MON-FRI')"
    )


def test_schedule_off_hourly_partitions_is_refused(tmp_path):
    labels = {"kind": "s3", "uri": "s3://b/labels/{ts:%Y-%m-%d/%H}/x.parquet"}
    change = {"schedule": {"cron": "*/15 * * * *"}, "data": {"labels": labels}}
    [problem] = problems(with_change(tmp_path, change, source={"kind": "sql", "conn_id": "db", "table": "t"}))
    assert "schedule.cron '*/15 * * * *' fires at times that are not a whole hour" in problem
    assert "data.labels.uri 's3://b/labels/{ts:%Y-%m-%d/%H}/x.parquet' has hourly partitions" in problem


def test_sql_sources_take_any_schedule(tmp_path):
    source = {"kind": "sql", "conn_id": "db", "table": "t"}
    config = load_config(with_change(tmp_path, {"schedule": {"cron": "*/15 * * * *"}}, source=source))
    assert config.schedule.cron == "*/15 * * * *"


@pytest.mark.parametrize("name", ["Churn", "churn-v2", "9lives", "a__b", "x" * 64])
def test_bad_model_name(tmp_path, name):
    [problem] = problems(with_change(tmp_path, {"model": {"name": name}}))
    assert problem.startswith("model.name: ")
    assert problem.endswith(f"(got {name!r})")


def test_model_name_message(tmp_path):
    assert problems(with_change(tmp_path, {"model": {"name": "Churn-V2"}})) == [
        "model.name: must start with a lower-case letter and hold only lower-case letters, digits and "
        "underscores (at most 63): it becomes part of the DAG ids (got 'Churn-V2')"
    ]


@pytest.mark.parametrize("key", ["password", "aws_secret_access_key", "api_key", "token"])
def test_credential_keys_are_rejected(tmp_path, key):
    path = with_change(tmp_path, {}, source={"kind": "sql", "conn_id": "db", "table": "t", key: "x"})
    assert problems(path) == [
        f"data.source.{key}: secrets must not live in a config file: store them in an Airflow connection "
        "or variable and refer to it by id (e.g. conn_id)"
    ]


def test_unsafe_yaml_tag(tmp_path):
    path = write(tmp_path, "model: !!python/object/apply:os.system ['echo pwned']\n")
    [problem] = problems(path)
    assert problem.startswith(
        "invalid YAML at line 1, column 8: could not determine a constructor for the tag"
    )
    assert problem.endswith("(only plain YAML is accepted: no tags such as !!python/object)")


def test_empty_file(tmp_path):
    assert problems(write(tmp_path, "")) == [
        "file is empty: expected a mapping with at least 'model', 'data' and 'training'"
    ]


def test_not_a_mapping(tmp_path):
    assert problems(write(tmp_path, "- a\n- b\n")) == ["expected a mapping at the top level, got list"]


def test_missing_sections(tmp_path):
    assert problems(write(tmp_path, "model: {name: x}\n")) == [
        "data: required field is missing",
        "training: required field is missing",
    ]


def test_all_errors_at_once(tmp_path):
    path = with_change(
        tmp_path,
        {
            "model": {"name": "Bad"},
            "training": {"backend": "gpu"},
            "alerts": {"rules": [{"on": "drift"}]},
            "extra": 1,
        },
    )
    assert problems(path) == [
        "model.name: must start with a lower-case letter and hold only lower-case letters, digits and "
        "underscores (at most 63): it becomes part of the DAG ids (got 'Bad')",
        "training.backend: Input should be 'local' or 'kubernetes' (got 'gpu')",
        "alerts.rules[0].notify: required field is missing",
        "extra: unknown field (check the spelling; see `driftline schema` for the fields) (got 1)",
    ]


def test_later_sections_are_not_supported_yet(tmp_path, monkeypatch):
    import driftline.config.loader as loader

    monkeypatch.setattr(loader, "NOT_SUPPORTED_YET", ("cost",))
    section, body = "cost", {}
    [problem] = problems(with_change(tmp_path, {section: body}))
    assert problem.startswith(f"{section}: not supported yet in Driftline")


def test_unknown_source_kind(tmp_path):
    path = with_change(tmp_path, {}, source={"kind": "ftp", "path": "x"})
    assert problems(path) == [
        "data.source: unknown source kind: expected one of 'local', 's3', 'sql' (got {'kind': 'ftp', 'path': 'x'})"
    ]


def test_sql_source_needs_table_or_query(tmp_path):
    path = with_change(tmp_path, {}, source={"kind": "sql", "conn_id": "db"})
    [problem] = problems(path)
    assert problem.startswith("data.source: give exactly one of 'table' or 'query'")


def test_feature_cannot_be_label(tmp_path):
    path = with_change(tmp_path, {"data": {"features": [{"name": "y", "type": "int"}]}})
    [problem] = problems(path)
    assert problem.startswith("data: entity_id/timestamp/label must not also be features: ['y']")


def test_drift_columns_must_be_features(tmp_path):
    path = with_change(tmp_path, {"drift": {"columns": {"zzz": {"method": "ks", "threshold": 0.05}}}})
    [problem] = problems(path)
    assert problem.startswith("(top level): drift.columns names columns that are not features: ['zzz']")


def test_defaults_are_merged_under_each_file(tmp_path):
    (tmp_path / "_defaults.yaml").write_text("model: {owner: platform}\nschedule: {cron: '0 0 * * MON'}\n")
    with_change(tmp_path, {"model": {"owner": "alice"}}, "a.yaml")
    with_change(tmp_path, {"model": {"name": "other"}}, "b.yaml")
    loaded = load_folder(tmp_path)
    assert not loaded.errors
    owners = {c.model.name: (c.model.owner, c.schedule.cron) for c in loaded.configs.values()}
    assert owners == {"demo": ("alice", "0 0 * * MON"), "other": ("platform", "0 0 * * MON")}


def test_duplicate_model_names_across_files(tmp_path):
    first = with_change(tmp_path, {}, "a.yaml")
    second = with_change(tmp_path, {}, "b.yaml")
    loaded = load_folder(tmp_path)
    assert list(loaded.configs) == [first]
    assert loaded.errors[second].problems == [
        "model.name: 'demo' is already defined by a.yaml: model names must be unique"
    ]


def test_one_bad_file_does_not_hide_the_others(tmp_path):
    good = with_change(tmp_path, {}, "good.yaml")
    bad = write(tmp_path, "model: [\n", "bad.yaml")
    with pytest.raises(
        ConfigError, match=r"bad.yaml: 1 error\(s\)\n  - invalid YAML at line 2, column 1: \w+"
    ):
        load_config(bad)
    loaded = load_folder(tmp_path)
    assert list(loaded.configs) == [good]
    assert list(loaded.errors) == [bad]
