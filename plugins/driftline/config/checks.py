"""Static checks of a model config: everything that is knowable before a run, beyond the schema.

The pydantic contract (driftline.config.models) checks each section on its own; these checks
cross sections and files: every column an expectation names is a column the pipeline loads
(`ModelConfig.columns`; the load step reads those and nothing else, so an expectation on any other
column can only fail at run time, and a good day would be quarantined as bad data), the label's
known values agree with `data.positive_class`, `registry.metric` is computed for `training.task`,
a SQL query selects the columns, the suite file exists and every expectation builds, the
estimator's module exists.

`problems(config)` returns `field: problem` lines (no Airflow, no network). `driftline validate`
prints them per file; the validation step runs `expectation_problems` before Great Expectations
and raises a ConfigError (a config error, never a quarantine) naming the file and the field.
`deep=True` also imports Great Expectations and the estimator's module (seconds, not for parsing).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable
from typing import Any

from driftline.config.models import ModelConfig, SqlSource
from driftline.exceptions import ConfigError

# GX kwargs that name one column or several
_COLUMN_KWARGS = ("column", "column_A", "column_B")
_COLUMN_LIST_KWARGS = ("column_list", "column_set", "ignore_row_if_column_list")
# expectations whose kwargs list the label's values
_VALUE_SET_EXPECTATIONS = {
    "expect_column_values_to_be_in_set": "value_set",
    "expect_column_distinct_values_to_be_in_set": "value_set",
    "expect_column_distinct_values_to_equal_set": "value_set",
    "expect_column_distinct_values_to_contain_set": "value_set",
}
# table-level expectations whose column lists describe the whole table, not loaded columns
_TABLE_COLUMN_EXPECTATIONS = {
    "expect_table_columns_to_match_ordered_list",
    "expect_table_columns_to_match_set",
    "expect_table_columns_to_contain_set",
}


def config_file(config: ModelConfig) -> str:
    """The file a config was loaded from (as the loader saw it), else a description naming the model."""
    from driftline.config.loader import loaded_path

    path = loaded_path(config.model.name)
    return str(path) if path is not None else f"the config of model {config.model.name!r}"


def _columns_of(kwargs: dict[str, Any]) -> list[tuple[str, str]]:
    """(kwarg name, column) pairs an expectation's kwargs name."""
    found: list[tuple[str, str]] = []
    for key in _COLUMN_KWARGS:
        value = kwargs.get(key)
        if isinstance(value, str):
            found.append((key, value))
    for key in _COLUMN_LIST_KWARGS:
        value = kwargs.get(key)
        if isinstance(value, list | tuple | set):
            found.extend((key, str(v)) for v in value)
    return found


def _planned(config: ModelConfig, deep: bool) -> tuple[list[Any], list[str]]:
    """The planned expectations (config + suite file) and the problems reading the suite file."""
    from driftline.validation.expectations import PlannedExpectation, from_suite_file

    planned = [
        PlannedExpectation(e.type, dict(e.kwargs), e.severity, f"validation.expectations[{i}]")
        for i, e in enumerate(config.validation.expectations)
    ]
    problems: list[str] = []
    if config.validation.suite:
        try:
            planned.extend(_suite(config.validation.suite, deep, from_suite_file))
        except ConfigError as exc:
            problems.extend(f"{exc.path}: {p}" for p in exc.problems)
    return planned, problems


def _suite(path: str, deep: bool, read: Any) -> list[Any]:
    """The suite file's expectations; without `deep`, read without importing Great Expectations."""
    if deep:
        return list(read(path))
    from driftline.validation.expectations import PlannedExpectation, read_suite_items

    file, _where, items = read_suite_items(path)
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        name = item.get("type") or item.get("expectation_type")
        source = f"suite:{file.name}.expectations[{i}]"
        out.append(PlannedExpectation(str(name), dict(item.get("kwargs") or {}), "fail", source))
    return out


def expectation_problems(config: ModelConfig, deep: bool = False) -> list[str]:
    """Expectations on columns the pipeline does not load; with `deep`, also unknown names / bad kwargs."""
    planned, problems = _planned(config, deep)
    loaded = config.columns
    for plan in planned:
        if plan.type in _TABLE_COLUMN_EXPECTATIONS:
            continue
        missing = [(key, col) for key, col in _columns_of(plan.kwargs) if col not in loaded]
        for key, col in missing:
            problems.append(
                f"{plan.source}.kwargs.{key}: column {col!r} is not loaded: the pipeline loads only "
                f"data.entity_id, data.timestamp, data.features and data.label ({', '.join(loaded)}); "
                "add it to data.features or remove the expectation"
            )
    if deep:
        from driftline.validation.expectations import build

        for plan in planned:
            try:
                build(plan)
            except ConfigError as exc:
                problems.extend(exc.problems)
    return problems


def label_problems(config: ModelConfig) -> list[str]:
    """What the expectations say about the label's values, against data.positive_class."""
    data = config.data
    if config.training.task != "binary_classification":
        return []
    problems: list[str] = []
    planned, _ = _planned(config, deep=False)
    for plan in planned:
        key = _VALUE_SET_EXPECTATIONS.get(plan.type)
        if key is None or plan.kwargs.get("column") != data.label:
            continue
        values = plan.kwargs.get(key)
        if not isinstance(values, list | tuple) or not values:
            continue
        where = f"{plan.source}.kwargs.{key}"
        if data.positive_class is None:
            binary = all(isinstance(v, bool | int | float) for v in values) and {
                float(v) for v in values
            } <= {
                0.0,
                1.0,
            }
            if not binary:
                problems.append(
                    f"data.positive_class: required: the label {data.label!r} takes the values "
                    f"{list(values)!r} ({where}), not 0/1; name the positive one, e.g. "
                    f"positive_class: {values[-1]!r}"
                )
        elif not any(_same(v, data.positive_class) for v in values):
            problems.append(
                f"data.positive_class: {data.positive_class!r} is not one of the label's values "
                f"{list(values)!r} ({where})"
            )
    return problems


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) or str(a) == str(b)


def metric_problems(config: ModelConfig) -> list[str]:
    """`registry.metric` must be one the training computes for `training.task`."""
    metrics = {
        "binary_classification": ("roc_auc", "accuracy", "f1", "precision", "recall", "log_loss", "pr_auc"),
        "multiclass_classification": ("accuracy", "f1_macro", "log_loss"),
        "regression": ("rmse", "mae", "r2"),
    }
    names = metrics.get(config.training.task, ())
    if config.registry.metric not in names:
        return [
            f"registry.metric: {config.registry.metric!r} is not computed for training.task "
            f"{config.training.task!r}: use one of {', '.join(names)}"
        ]
    return []


def sql_problems(config: ModelConfig) -> list[str]:
    """A SQL source's query must select every column the pipeline loads (checked by name)."""
    problems: list[str] = []
    for field, source in (("data.source", config.data.source), ("data.labels", config.data.labels)):
        if not isinstance(source, SqlSource) or not source.query:
            continue
        query = source.query
        if re.search(r"\*", query):
            continue  # SELECT * : the columns are the table's, checked at run time
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", query))
        wanted = config.columns if field == "data.source" else [config.data.entity_id, config.data.label]
        missing = [c for c in wanted if c not in words]
        if missing:
            problems.append(
                f"{field}.query: does not select {missing}: the query must return data.entity_id, "
                "data.timestamp, data.features and data.label by these names"
            )
    return problems


def estimator_problems(config: ModelConfig) -> list[str]:
    """The estimator's module must be importable where the pipeline runs (checked by finding it)."""
    est = config.training.estimator
    target = est.class_path.rsplit(".", 1)[0] if est.class_path else (est.callable or "").split(":")[0]
    if not target:
        return []
    field = "training.estimator.class_path" if est.class_path else "training.estimator.callable"
    try:
        found = importlib.util.find_spec(target) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return [f"{field}: module {target!r} cannot be found in this environment"]
    return []


def problems(config: ModelConfig, deep: bool = False) -> list[str]:
    """Every static problem of one config (`field: problem` lines); empty when none."""
    return [
        *expectation_problems(config, deep=deep),
        *label_problems(config),
        *metric_problems(config),
        *sql_problems(config),
        *estimator_problems(config),
    ]


def raise_config_problems(config: ModelConfig, found: Iterable[str]) -> None:
    """Raise a ConfigError naming the config file when `found` holds problems."""
    lines = list(found)
    if lines:
        raise ConfigError(config_file(config), lines)
