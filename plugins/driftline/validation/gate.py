"""The validation gate: schema checks plus a Great Expectations suite, run on one DataFrame.

`validate_frame(df, config)` builds everything from the model config:
- schema checks (validation.schema_checks): every config column exists and each feature's
  dtype fits its declared type; done in pandas before GX (cheap, and the messages name the
  expected and the found type);
- validation.expectations (snake_case GX names + kwargs, severity fail|warn);
- validation.suite: a GX suite JSON file (relative to the project root);
- validation.min_rows: `expect_table_row_count_to_be_between`.
They run as one suite in an ephemeral GX context (GX computes shared metrics once). The
result is a ValidationReport: `success` is False when any fail-severity check did not pass;
warn-severity misses are reported as warnings only.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from driftline.config.models import ModelConfig
from driftline.exceptions import ConfigError
from driftline.validation import expectations as planning
from driftline.validation.report import EXAMPLES, Finding, ValidationReport, json_safe

if TYPE_CHECKING:
    import pandas as pd

    from driftline.validation.expectations import PlannedExpectation

log = logging.getLogger(__name__)


def quiet_gx() -> None:
    """GX logs much at INFO and may send analytics: keep both off.

    GX sets INFO on some of its module loggers at import time, so this runs again after import.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if name.startswith("great_expectations.") and isinstance(logger, logging.Logger):
            if logger.level and logger.level < logging.WARNING:
                logger.setLevel(logging.WARNING)


def ephemeral_context() -> Any:
    """A GX ephemeral context without progress bars."""
    quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    quiet_gx()
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return ctx


def run_suite(df: pd.DataFrame, gx_expectations: list[Any], name: str = "driftline") -> Any:
    """Run GX expectation objects as one suite on `df`; returns GX's ExpectationSuiteValidationResult."""
    ctx = ephemeral_context()
    suffix = uuid.uuid4().hex[:8]
    batch = (
        ctx.data_sources.add_pandas(f"{name}-{suffix}")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
    )
    return run_on_batch(ctx, batch, gx_expectations, f"{name}-{suffix}", {"dataframe": df})


def run_on_batch(
    ctx: Any,
    batch: Any,
    gx_expectations: list[Any],
    name: str,
    batch_parameters: dict[str, Any] | None = None,
) -> Any:
    """Run GX expectation objects as one suite on a batch definition of any GX execution engine
    (pandas here, SQL in driftline.engines.duckdb_validation)."""
    import great_expectations as gx

    # Built whole, then added once: `suite.add_expectation` re-serialises the suite into the store
    # on every call, which costs about a second for 40 expectations.
    suite = ctx.suites.add(gx.ExpectationSuite(name=name, expectations=list(gx_expectations)))
    definition = ctx.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    return definition.run(batch_parameters=batch_parameters) if batch_parameters else definition.run()


# --- schema checks ------------------------------------------------------------------------


def _type_ok(dtype: Any, expected: str) -> bool:
    import pandas as pd

    api = pd.api.types
    if expected == "int":
        return bool(api.is_integer_dtype(dtype) and not api.is_bool_dtype(dtype))
    if expected == "float":
        return bool(api.is_numeric_dtype(dtype) and not api.is_bool_dtype(dtype))
    if expected == "bool":
        return bool(api.is_bool_dtype(dtype))
    if expected == "string":
        return bool(
            api.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype) or api.is_object_dtype(dtype)
        )
    return True  # category: any values


def schema_findings(df: pd.DataFrame, config: ModelConfig) -> tuple[list[Finding], int]:
    """Failures of the derived schema checks, and how many checks ran."""
    import pandas as pd

    def fits(dtype: Any, expected: str) -> bool:
        if expected == "timestamp":
            return bool(pd.api.types.is_datetime64_any_dtype(dtype))
        return _type_ok(dtype, expected)

    return schema_findings_for({str(c): df[c].dtype for c in df.columns}, config, fits)


def schema_findings_for(
    types: dict[str, Any], config: ModelConfig, fits: Callable[[Any, str], bool]
) -> tuple[list[Finding], int]:
    """The schema checks on any engine: `types` maps each column to its type (a pandas dtype, a
    DuckDB type name), `fits(type, expected)` says whether it holds a config type (int, float,
    bool, string, category, timestamp)."""
    findings: list[Finding] = []
    evaluated = 0
    for column in config.columns:
        evaluated += 1
        if column not in types:
            findings.append(
                Finding(
                    "expect_column_to_exist",
                    column,
                    "fail",
                    "validation.schema_checks",
                    {"column": column},
                    observed_value=f"missing; columns are {sorted(types)}",
                )
            )
    expected_types = {f.name: f.type for f in config.data.features}
    for column, expected in [*expected_types.items(), (config.data.timestamp, "timestamp")]:
        if column not in types:
            continue
        evaluated += 1
        if not fits(types[column], expected):
            findings.append(
                Finding(
                    "expect_column_values_to_be_of_type",
                    column,
                    "fail",
                    "validation.schema_checks",
                    {"column": column, "type_": expected},
                    observed_value=f"expected {expected}, found {types[column]}",
                )
            )
    return findings, evaluated


# --- GX results -> findings -----------------------------------------------------------------


def _exception_message(info: Any) -> str | None:
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    messages = {
        str(v.get("exception_message"))
        for v in info.values()
        if isinstance(v, dict) and v.get("raised_exception")
    }
    return "; ".join(sorted(messages)) or None


def finding(planned: PlannedExpectation, result: Any) -> Finding:
    """One GX expectation result as a Finding."""
    body = result.result or {}
    examples = body.get("partial_unexpected_list") or []
    kwargs = {k: v for k, v in planned.kwargs.items() if k != "batch_id"}
    return Finding(
        expectation=planned.type,
        column=planned.column,
        severity=planned.severity,
        source=planned.source,
        kwargs=json_safe(kwargs),
        observed_value=json_safe(body.get("observed_value")),
        element_count=json_safe(body.get("element_count")),
        unexpected_count=json_safe(body.get("unexpected_count")),
        unexpected_percent=json_safe(body.get("unexpected_percent")),
        examples=json_safe(list(examples[:EXAMPLES])),
        error=_exception_message(result.exception_info),
    )


def validate_frame(df: pd.DataFrame, config: ModelConfig) -> ValidationReport:
    """Run the model's gate on `df` and report every failure and warning."""
    from driftline.config.checks import config_file, expectation_problems, raise_config_problems

    began = time.perf_counter()
    # A config error is a config error, never a quarantine: an expectation on a column the pipeline
    # does not load fails here, naming the config file and field, before any data is judged.
    raise_config_problems(config, expectation_problems(config, deep=True))
    planned = planning.from_config(config)
    where = config_file(config)
    gx_objects = [planning.build(p, where) for p in planned]
    failures, schema_evaluated = schema_findings(df, config) if config.validation.schema_checks else ([], 0)
    result = run_suite(df, gx_objects, name=config.model.name)
    return build_report(config, planned, result, failures, schema_evaluated, len(df), len(df.columns), began)


def build_report(
    config: ModelConfig,
    planned: list[PlannedExpectation],
    result: Any,
    failures: list[Finding],
    schema_evaluated: int,
    rows: int,
    columns: int,
    began: float,
    engine: str | None = None,
) -> ValidationReport:
    """The ValidationReport of a GX suite result plus the schema findings (any execution engine)."""
    quiet_gx()
    import great_expectations as gx

    from driftline.config.checks import config_file

    by_source = {p.source: p for p in planned}
    warnings: list[Finding] = []
    for item in result.results:
        own = item.expectation_config.meta or {}
        plan = by_source.get(own.get("driftline_source", ""))
        if plan is None:  # not ours: cannot happen unless GX adds expectations
            continue
        if item.success:
            continue
        found = finding(plan, item)
        (warnings if plan.severity == "warn" else failures).append(found)
    raised = [f for f in failures if f.error and f.source != "validation.schema_checks"]
    schema_ok = config.validation.schema_checks and not any(
        f.source == "validation.schema_checks" for f in failures
    )
    if raised and schema_ok:
        # the data has every column with its declared type, yet the expectation could not be
        # evaluated (GX raised): the expectation is misconfigured, the data is not to blame
        raise ConfigError(
            config_file(config),
            [
                f"{f.source}: {f.expectation} could not be evaluated on data that passed the schema "
                f"checks: {f.error}"
                for f in raised
            ],
        )
    evaluated = len(planned) + schema_evaluated
    hard = [f for f in failures if f.severity == "fail"]
    statistics = {
        "evaluated": evaluated,
        "passed": evaluated - len(hard) - len(warnings),
        "failed": len(hard),
        "warned": len(warnings),
        "rows": rows,
        "columns": columns,
    }
    meta: dict[str, Any] = {
        "model": config.model.name,
        "great_expectations": gx.__version__,
        "elapsed_s": round(time.perf_counter() - began, 4),
        "suite": config.validation.suite,
    }
    if engine is not None:
        meta["engine"] = engine
    report = ValidationReport(
        success=not hard, statistics=statistics, failures=hard, warnings=warnings, meta=meta
    )
    for warning in warnings:
        log.warning("validation warning (%s): %s", config.model.name, warning.describe())
    return report


# --- a failed batch: ledger, move, alert -------------------------------------------------------


def alert_marker_uri(quarantined_uri: str) -> str:
    """The marker written once the quarantine alert of a batch went out."""
    return quarantined_uri[: -len(".parquet")] + ".alerted"


def quarantine_failed_batch(
    ref: Any,
    result: dict[str, Any],
    config: ModelConfig,
    *,
    window: str,
    message: str,
    conn_id: str | None = None,
) -> Any:
    """Keep a failed batch out of training: ledger entry first, then the move, then the alert.

    Each step is idempotent and keyed by the batch, so a retry (or a worker killed at any point)
    finishes what an earlier try started: the ledger holds one entry per range and run, the move
    copies before it deletes, and the alert goes out once (a marker beside the quarantined
    snapshot records that it went; a crash between the alert and the marker repeats the alert:
    at-least-once delivery). `ref` is the raw SnapshotRef the validate step was handed.
    Returns the quarantined SnapshotRef.
    """
    from driftline.alerting import AlertEvent, emit_alert
    from driftline.data import quarantine_ledger, snapshots

    target = snapshots.quarantine_uri(ref)
    start, end = ref.facts.get("window_start"), ref.facts.get("window_end")
    if window == "current" and start and end:
        quarantine_ledger.record(
            config.data.snapshot_root,
            config.model.name,
            start,
            end,
            run_id=str((result.get("run") or {}).get("run_id") or ""),
            snapshot=target,
            reason=message,
            conn_id=conn_id,
        )
        log.info("quarantine ledger: [%s, %s) is excluded from training from now on", start, end)
    moved = snapshots.quarantine(ref, result, conn_id)
    marker = alert_marker_uri(moved.uri)
    if not snapshots.exists(marker, conn_id):
        emit_alert(
            AlertEvent(
                model=config.model.name,
                kind="validation_failed",
                severity="error",
                message=message,
                details={"quarantine": moved.uri, "window": window, "summary": result.get("statistics", {})},
                run=dict(result.get("run") or {}),
            )
        )
        snapshots.write_bytes(marker, b"alerted\n", conn_id)
    return moved
