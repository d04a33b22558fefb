"""The Evidently report people read: DataDriftPreset on a bounded fixed-seed sample.

The sample keeps the per-column methods and thresholds that were resolved on the full data
(`per_column_method` / `per_column_threshold`), so the report shows the same tests as the
decision, on at most `drift.report.sample_size` rows per side and `drift.report.max_columns`
columns (drifted ones first). It is built only when `drift.report.when` says so (`should_build`:
always, on_drift, never). `drift_report.html` and `drift_summary.json` are written next to the
current snapshot; the decision step also logs them to the monitoring run in MLflow.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.drift.stats import ColumnType
from driftline.exceptions import PermanentError

if TYPE_CHECKING:
    import pandas as pd

    from driftline.drift.data_drift import DataDriftResult, DriftSettings

REPORT_NAME = "drift_report.html"
SUMMARY_NAME = "drift_summary.json"

# Evidently's HTML (0.7) carries the report's data as JavaScript in one inline script of its head:
#   <script>\n    var metric_<hex> = {...};\n    var additional_graphs_metric_<hex> = {...};\n</script>
# The values are json.dumps output written raw into the script, so a data value such as
# `</script><script>...` ends the script element and starts one of its own. json.dumps never writes a
# raw newline, so the data runs from the opening line to the first "\n</script>".
_EVIDENTLY_DATA = re.compile(r"<script>\n\s*var metric_[0-9a-f]+ = ")
_DATA_END = "\n</script>"


class ReportFormatError(PermanentError):
    """An HTML report that is not laid out the way Evidently writes it: its data cannot be made inert."""


def inert_script_data(html: str) -> str:
    """Evidently's report HTML with every `<` of its data script written as the JavaScript escape `\\u003c`.

    Inside the data every `<` stands in a JSON string, where `\\u003c` is the same character, so the
    report shows the same values; but no data value can end the script element or open a tag. The
    HTML around the data (Evidently's own template and its bundled JavaScript) is left as it is.
    Raises ReportFormatError when the HTML has no Evidently data script (a different writer or
    version): the caller decides, it is never passed through silently.
    """
    found = _EVIDENTLY_DATA.search(html)
    if found is None:
        raise ReportFormatError(
            "no Evidently data script (`<script> var metric_<id> = ...`) in the report HTML"
        )
    end = html.find(_DATA_END, found.end())
    if end < 0:
        raise ReportFormatError("the Evidently data script of the report HTML is not closed")
    data = html[found.end() : end].replace("<", "\\u003c")
    return html[: found.end()] + data + html[end:]


def sample_rows(df: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """At most `size` rows of `df`, chosen with a fixed seed, in their original order."""
    import numpy as np

    if len(df) <= size:
        return df
    idx = np.sort(np.random.default_rng(seed).choice(len(df), size=size, replace=False))
    return df.iloc[idx]


def data_definition(column_types: dict[str, ColumnType]) -> Any:
    from evidently import DataDefinition

    return DataDefinition(
        numerical_columns=[c for c, t in column_types.items() if t == "num"],
        categorical_columns=[c for c, t in column_types.items() if t == "cat"],
    )


def run_preset(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    column_types: dict[str, ColumnType],
    *,
    drift_share: float,
    method: str | None = None,
    threshold: float | None = None,
    per_column_method: dict[str, str] | None = None,
    per_column_threshold: dict[str, float] | None = None,
) -> Any:
    """Run Evidently's DataDriftPreset on the given columns; returns the Evidently snapshot."""
    from evidently import Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = list(column_types)
    definition = data_definition(column_types)
    preset = DataDriftPreset(
        columns=columns,
        drift_share=drift_share,
        method=method,
        threshold=threshold,
        per_column_method=per_column_method or None,
        per_column_threshold=per_column_threshold or None,
    )
    return Report([preset], include_tests=True).run(
        current_data=Dataset.from_pandas(current[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
    )


def column_verdicts(snapshot: Any) -> dict[str, dict[str, Any]]:
    """Per-column {statistic, method, threshold, drifted} and the dataset share from an Evidently snapshot."""
    data = snapshot.dict()
    out: dict[str, dict[str, Any]] = {}
    for metric in data["metrics"]:
        config = metric.get("config", {})
        if config.get("type") == "evidently:metric_v2:ValueDrift":
            out[config["column"]] = {
                "statistic": float(metric["value"]),
                "method": config.get("method"),
                "threshold": config.get("threshold"),
            }
    for test in data.get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        if params.get("type") == "evidently:metric_v2:ValueDrift" and params.get("column") in out:
            out[params["column"]]["drifted"] = test["status"] == "FAIL"
    return out


def dataset_share(snapshot: Any) -> dict[str, float]:
    for metric in snapshot.dict()["metrics"]:
        if metric.get("config", {}).get("type") == "evidently:metric_v2:DriftedColumnsCount":
            return {"count": float(metric["value"]["count"]), "share": float(metric["value"]["share"])}
    return {}


def should_build(
    when: str, *, data_drift: bool, label_drift: bool, prediction_drift: bool
) -> tuple[bool, str]:
    """The report policy (`drift.report.when`): build the HTML report or not, and why."""
    if when == "always":
        return True, "drift.report.when is always"
    if when == "never":
        return False, "drift.report.when is never"
    found = [
        name
        for name, hit in (("data", data_drift), ("label", label_drift), ("prediction", prediction_drift))
        if hit
    ]
    if found:
        return True, f"drift.report.when is on_drift and {', '.join(found)} drift was detected"
    return False, "drift.report.when is on_drift and no data, label or prediction drift was detected"


def report_columns(result: DataDriftResult, max_columns: int | None) -> list[str]:
    """The columns a report shows: drifted first, then by statistic relative to its threshold."""

    def severity(name: str) -> tuple[int, float]:
        col = result.columns[name]
        stat, thr = col.statistic, col.threshold or 1.0
        if stat is None:
            return (0, 0.0)
        ratio = stat / thr if col.method not in ("ks", "chisquare", "z") else thr / max(stat, 1e-300)
        return (1 if col.drifted else 0, ratio)

    names = [n for n, c in result.columns.items() if c.status == "ok" and c.method is not None]
    names.sort(key=severity, reverse=True)
    return names if max_columns is None else names[:max_columns]


def sampled_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    result: DataDriftResult,
    settings: DriftSettings,
    *,
    sample_size: int | None = None,
    max_columns: int | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The Evidently snapshot on a fixed-seed sample and a summary of how it compares with `result`.

    The report is bounded: at most `sample_size` rows per side (default `settings.sample_size`)
    and `max_columns` columns (default all; drifted columns first).
    """
    size = sample_size or settings.sample_size
    shown = report_columns(result, max_columns)
    comparable = {name: settings.column_types[name] for name in shown}
    ref_s = sample_rows(reference, size, settings.seed)
    cur_s = sample_rows(current, size, settings.seed + 1)
    from driftline.drift.evidently_tests import evidently_name, register

    register()  # calibrated columns are shown with Driftline's own tests, plugged into Evidently
    snap = run_preset(
        ref_s,
        cur_s,
        comparable,
        drift_share=settings.drift_share,
        per_column_method={
            n: evidently_name(str(result.columns[n].method))
            if result.columns[n].decision == "calibrated"
            else str(result.columns[n].method)
            for n in comparable
        },
        per_column_threshold={n: float(result.columns[n].threshold or 0) for n in comparable},
    )
    verdicts = column_verdicts(snap)
    disagreements = sorted(
        n
        for n, v in verdicts.items()
        if v.get("drifted") is not None and v["drifted"] != result.columns[n].drifted
    )
    summary = {
        "reference_rows": len(ref_s),
        "current_rows": len(cur_s),
        "sampled": len(ref_s) < len(reference) or len(cur_s) < len(current),
        "sample_size": size,
        "max_columns": max_columns,
        "seed": settings.seed,
        "columns": verdicts,
        "dataset": dataset_share(snap),
        "disagreements_with_full_data": disagreements,
        "excluded_columns": sorted(set(result.columns) - set(comparable)),
    }
    return snap, summary


def artifact_folder(snapshot_uri: str) -> str:
    """The folder holding a snapshot (local path or object-store URI)."""
    return snapshot_uri.rsplit("/", 1)[0] if "/" in snapshot_uri else "."


def write_artifacts(folder: str, snapshot: Any | None, summary: dict[str, Any]) -> dict[str, Any]:
    """Write `drift_report.html` (if there is an Evidently snapshot) and `drift_summary.json` into `folder`.

    Returns {"report_html": uri | None, "summary_json": uri, "report_bytes"?: size of the HTML}.
    """
    from driftline.data.snapshots import write_bytes

    folder = folder.rstrip("/")
    paths: dict[str, Any] = {"report_html": None, "summary_json": f"{folder}/{SUMMARY_NAME}"}
    if snapshot is not None:
        with tempfile.TemporaryDirectory(prefix="driftline-drift-") as tmp:
            local = Path(tmp) / REPORT_NAME
            snapshot.save_html(str(local))
            data = inert_script_data(local.read_text(encoding="utf-8")).encode("utf-8")
            write_bytes(f"{folder}/{REPORT_NAME}", data)
        paths["report_html"] = f"{folder}/{REPORT_NAME}"
        paths["report_bytes"] = len(data)
    write_bytes(f"{folder}/{SUMMARY_NAME}", json.dumps(summary, indent=2, default=str).encode())
    return paths
