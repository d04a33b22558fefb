"""check_drift: data, label, prediction and concept drift vs the champion, and the label-free estimate.

CheckDriftOperator returns a small JSON dict:
    {"data_drift": {"evaluated": bool, "reason"?, ...DataDriftResult},
     "concept_drift": {...ConceptDriftResult},
     "label_drift": {...TargetDriftResult}, "prediction_drift": {...TargetDriftResult},
     "performance_estimate": {...PerformanceEstimate, "window": {...}},
     "estimates_reconciled": [{estimate vs realised of an earlier interval}, ...],
     "champion": {...} | None, "current_uri", "reference_uri", "current_window": {...},
     "report_html": uri | None, "summary_json", "report": {"built", "why", "seconds", "bytes", "bound"}}

The retrain branch is `driftline.operators.retrain`; the decisions' MLflow records are
`driftline.operators.drift_records` (both re-exported here for existing imports).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import TYPE_CHECKING, Any

from driftline.exceptions import ConfigError
from driftline.operators.base import DriftlineOperator, run_interval, run_params
from driftline.operators.drift_records import (
    TAG_ESTIMATE,
    TAG_ESTIMATE_REALISED,
    TAG_ESTIMATE_STATUS,
    champion_for_data_time,
    champion_to_dict,
    load_champion_version,
    monitoring_experiment,
)
from driftline.payloads import DriftPayload

if TYPE_CHECKING:
    from driftline.config.models import ModelConfig
    from driftline.hooks.mlflow import MlflowHook


class CheckDriftOperator(DriftlineOperator):
    """Data drift of the validated current window vs the champion's training snapshot, and concept drift.

    :param current: the validated current snapshot (SnapshotRef dict; templated, e.g. `validate.output`).
    :param labels: optional validated snapshot of the `data.labels` source for the window (templated);
        needed for concept drift when `data.labels` is configured.
    :param mlflow_conn_id: the MLflow connection (default: the config's registry.mlflow_conn_id).
    """

    template_fields = ("current", "labels")
    ui_color = "#fdf1e3"

    def __init__(
        self,
        *,
        current: Any,
        labels: Any = None,
        mlflow_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.current = current
        self.labels = labels
        self.mlflow_conn_id = mlflow_conn_id or self.model_config.registry.mlflow_conn_id
        self.reference_problem = ""
        self.labels_problem = ""

    def execute(self, context: Any) -> DriftPayload:
        from driftline.data.snapshots import SnapshotRef, read_snapshot
        from driftline.hooks.mlflow import MlflowHook

        config: ModelConfig = self.model_config
        ref = SnapshotRef.from_dict(self.current)
        hook = MlflowHook(self.mlflow_conn_id)
        _, data_time = run_interval(context)
        # The champion as of the run's data time, not the live one: a backfill compares with the
        # reference (and cooldown, age) the live schedule had for this interval.
        champion, how = champion_for_data_time(hook, config, data_time)
        self.log.info("Champion for data up to %s: %s", data_time.isoformat(), how)
        out = DriftPayload(
            champion=champion_to_dict(champion),
            current_uri=ref.uri,
            reference_uri=getattr(champion, "snapshot_uri", None),
            report_html=None,
            summary_json=None,
            data_drift={},
            concept_drift={},
        )
        if champion is None:
            reason = "not evaluated: no champion (no reference data)"
            self.log.info("Drift %s for registered model %r", reason, config.registered_model_name)
            out["data_drift"] = {"evaluated": False, "reason": reason}
            out["concept_drift"] = {"evaluated": False, "drifted": None, "reason": reason}
            out["label_drift"] = {"kind": "label", "evaluated": False, "drifted": None, "reason": reason}
            out["prediction_drift"] = {
                "kind": "prediction",
                "evaluated": False,
                "drifted": None,
                "reason": reason,
            }
            return out

        from driftline.config.checks import config_file
        from driftline.registry.signature import serving_problems

        cannot_serve = serving_problems(hook, config, champion.version)
        if cannot_serve:
            if not run_params(context).force_retrain:
                raise ConfigError(config_file(config), cannot_serve)
            # a forced retrain recovers: drift against a champion that cannot read this config is skipped
            reason = f"not evaluated: champion v{champion.version} cannot serve this config ({'; '.join(cannot_serve)})"
            self.log.warning(
                "Drift %s; force_retrain trains a new champion on the configured features", reason
            )
            out["data_drift"] = {"evaluated": False, "reason": reason}
            out["concept_drift"] = {"evaluated": False, "drifted": None, "reason": reason}
            for kind in ("label", "prediction"):
                out[f"{kind}_drift"] = {"kind": kind, "evaluated": False, "drifted": None, "reason": reason}  # type: ignore[literal-required]
            return out
        from driftline.engines import engine_for

        engine = engine_for(config)
        if engine is not None:  # out-of-core: data drift on the engine, samples for the in-memory steps
            from driftline.engines.steps import drift_on_engine
            from driftline.hooks.sources import AirflowSourceAccess

            if not champion.snapshot_uri:
                self.reference_problem = (
                    f"not evaluated: champion v{champion.version} has no snapshot_uri tag (no reference data)"
                )
            on_engine = drift_on_engine(
                engine, config, ref, champion.snapshot_uri, champion.snapshot_sha256,
                run_interval(context), AirflowSourceAccess(), self.reference_problem,
            )  # fmt: skip
            current, reference = on_engine.current_sample, on_engine.reference_sample
            interval_rows = current  # the engine's fixed-seed sample of the window: what is estimated
            out["current_window"], out["data_drift"] = on_engine.window, on_engine.data_drift
            result, settings = on_engine.result, on_engine.settings
        else:
            current = read_snapshot(ref.uri, sha256=ref.sha256 or None)
            interval_rows = current  # the run's own interval: what the performance estimate is for
            current, out["current_window"] = self._drift_window(current, context)
            reference = self._reference(champion)
            out["data_drift"], result, settings = self._data_drift(reference, current, champion)
        model = None
        estimation = config.drift.performance_estimation.enabled
        if config.drift.prediction.enabled or config.drift.concept.enabled or estimation:
            model = self._load_model(hook, champion)
        labelled = self._labelled(current)
        out["concept_drift"] = self._concept_drift(labelled, champion, hook, model).to_dict()
        out["label_drift"] = self._label_drift(reference, labelled).to_dict()
        out["prediction_drift"] = self._prediction_drift(reference, current, model).to_dict()
        if estimation:
            out["performance_estimate"] = self._performance_estimate(
                reference, interval_rows, model, champion, ref, context
            )
            out["estimates_reconciled"] = self._reconcile_estimates(hook, champion, model, context)
        from driftline.drift.report import artifact_folder, sampled_report, should_build, write_artifacts

        build, why = should_build(
            config.drift.report.when,
            data_drift=bool(result is not None and result.dataset_drift),
            label_drift=bool(out["label_drift"].get("drifted")),
            prediction_drift=bool(out["prediction_drift"].get("drifted")),
        )
        snap, sample_summary, seconds = None, None, 0.0
        if build and result is not None and reference is not None:
            started = time.perf_counter()
            snap, sample_summary = sampled_report(
                reference,
                current,
                result,
                settings,
                sample_size=config.drift.report.sample_size,
                max_columns=config.drift.report.max_columns,
            )
            seconds = time.perf_counter() - started
            if sample_summary["disagreements_with_full_data"]:
                self.log.info(
                    "The sampled Evidently report differs from the full-data decision for %s (the full-data one counts)",
                    sample_summary["disagreements_with_full_data"],
                )
        summary = {
            "model": config.model.name,
            "champion": out["champion"],
            "current_uri": ref.uri,
            "current_window": out["current_window"],
            "reference_uri": champion.snapshot_uri,
            "data_drift": out["data_drift"],
            "label_drift": out["label_drift"],
            "prediction_drift": out["prediction_drift"],
            "evidently_sample_report": sample_summary,
            "concept_drift": out["concept_drift"],
            "performance_estimate": out.get("performance_estimate"),
            "estimates_reconciled": out.get("estimates_reconciled"),
        }
        paths = write_artifacts(artifact_folder(ref.uri), snap, summary)
        out["report_html"], out["summary_json"] = paths["report_html"], paths["summary_json"]
        out["report"] = {
            "built": snap is not None,
            "why": why,
            "seconds": round(seconds, 3),
            "bytes": paths.get("report_bytes"),
            "bound": (
                f"at most {config.drift.report.sample_size} rows per side and "
                f"{config.drift.report.max_columns} columns (drifted first)"
            ),
        }
        if snap is not None:
            self.log.info(
                "Drift report (%s): %s, %d bytes, %.1f s, %s",
                why,
                paths["report_html"],
                paths["report_bytes"],
                seconds,
                out["report"]["bound"],
            )
        else:
            self.log.info("Drift report not built: %s", why)
        self.log.info("Drift summary: %s", paths["summary_json"])
        return out

    def _drift_window(self, current: Any, context: Any) -> tuple[Any, dict[str, Any]]:
        """The current window for drift: the run's interval, or the last `drift.current_window_days`.

        Earlier days come from the source through the data window code, minus every range the
        validation gate quarantined; the run's own interval is its validated snapshot.
        """
        import pandas as pd

        from driftline.data import quarantine_ledger
        from driftline.data.sources import load_window
        from driftline.data.windows import Window
        from driftline.hooks.sources import AirflowSourceAccess

        cfg = self.model_config
        start, end = run_interval(context)
        days = cfg.drift.current_window_days
        facts: dict[str, Any] = {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "days": days,
            "rows": len(current),
            "earlier_partitions": [],
            "missing_days": [],
            "quarantined_excluded": [],
        }
        drift_start = end - dt.timedelta(days=days) if days else start
        if drift_start >= start:
            return current, facts
        earlier = Window(drift_start, start, "rolling", days, {"purpose": "drift current window"})
        loaded = load_window(
            cfg.data.source,
            earlier,
            cfg.columns,
            timestamp_col=cfg.data.timestamp,
            feature_types={f.name: f.type for f in cfg.data.features},
            allow_missing_partitions=True,
            access=AirflowSourceAccess(),
        )
        ranges = quarantine_ledger.quarantined_ranges(cfg.data.snapshot_root, cfg.model.name)
        df, excluded = quarantine_ledger.drop_quarantined(loaded.df, cfg.data.timestamp, ranges)
        combined = pd.concat([df, current[df.columns]], ignore_index=True)
        facts.update(
            start=drift_start.isoformat(),
            rows=len(combined),
            earlier_partitions=loaded.partitions,
            missing_days=loaded.missing,
            quarantined_excluded=excluded,
        )
        self.log.info(
            "Drift current window: the last %d day(s) [%s, %s): %d rows (%d from %d earlier partition(s), "
            "%d missing day(s), %d quarantined row(s) left out)",
            days,
            drift_start.isoformat(),
            end.isoformat(),
            len(combined),
            len(df),
            len(loaded.partitions),
            len(loaded.missing),
            sum(item["rows"] for item in excluded),
        )
        return combined, facts

    def _reference(self, champion: Any) -> Any:
        from driftline.data.snapshots import read_snapshot
        from driftline.drift.policy import ReferenceUnreadableError
        from driftline.exceptions import SnapshotError

        if not champion.snapshot_uri:
            self.reference_problem = (
                f"not evaluated: champion v{champion.version} has no snapshot_uri tag (no reference data)"
            )
            self.log.warning("Drift %s", self.reference_problem)
            return None
        try:
            return read_snapshot(champion.snapshot_uri, sha256=champion.snapshot_sha256 or None)
        except SnapshotError as exc:  # "could not read" is never "not evaluated": retry, then fail
            raise ReferenceUnreadableError(
                f"the reference snapshot of champion v{champion.version} ({champion.snapshot_uri}) "
                f"cannot be read: {exc}"
            ) from exc

    def _data_drift(self, reference: Any, current: Any, champion: Any) -> tuple[dict[str, Any], Any, Any]:
        from driftline.drift.data_drift import compute_data_drift, settings_from_config

        if reference is None:
            return {"evaluated": False, "reason": self.reference_problem}, None, None
        settings = settings_from_config(self.model_config)
        result = compute_data_drift(reference, current, settings)
        for name, col in result.columns.items():
            self.log.info(
                "column %s: %s %s (threshold %s) -> %s%s",
                name,
                col.method,
                col.statistic,
                col.threshold,
                "constant in window"
                if col.status == "constant_in_window"
                else {True: "DRIFT", False: "ok", None: "not comparable"}[col.drifted],
                f" ({col.reason})" if col.reason else "",
            )
        if result.excluded:
            self.log.info("left out of drift by the config: %s", result.excluded)
        self.log.info(
            "Data drift: %d/%d columns drifted, share %.3f (dataset drift at >= %s): %s%s",
            result.number_of_drifted_columns,
            result.number_of_columns,
            result.drift_share,
            result.drift_share_threshold,
            result.dataset_drift,
            f"; constant in window (not counted): {result.constant_in_window}"
            if result.constant_in_window
            else "",
        )
        return {"evaluated": True, **result.to_dict()}, result, settings

    def _load_model(self, hook: MlflowHook, champion: Any) -> Any:
        from driftline.registry.models import load_model_version

        return load_model_version(hook, champion.name, champion.version, self.model_config)

    def _labelled(self, current: Any) -> Any:
        from driftline.data.snapshots import SnapshotRef, read_snapshot
        from driftline.drift.concept import labelled_rows

        config = self.model_config
        labels = None
        if config.data.labels is not None:
            if not self.labels:  # a wiring error, not a reason for "not evaluated"
                from driftline.exceptions import ConfigError

                raise ConfigError(
                    f"task {self.task_id}",
                    ["data.labels is configured but no labels snapshot was passed to check_drift (labels=)"],
                )
            labels_ref = SnapshotRef.from_dict(self.labels)
            labels = read_snapshot(labels_ref.uri, sha256=labels_ref.sha256 or None)
        return labelled_rows(current, config, labels)

    def _concept_drift(self, rows: Any, champion: Any, hook: MlflowHook, model: Any) -> Any:
        from driftline.drift.concept import evaluate_concept_drift, not_evaluated

        config = self.model_config
        if not config.drift.concept.enabled:
            return not_evaluated(config, "drift.concept.enabled is false")
        if rows is None:
            return not_evaluated(config, self.labels_problem)
        if len(rows) < config.drift.concept.min_labels or champion.metric_value is None:
            return evaluate_concept_drift(None, rows, config, champion.metric_value)
        reference_se = self._registered_se(hook, champion)
        result = evaluate_concept_drift(model, rows, config, champion.metric_value, reference_se)
        self.log.info("Concept drift: %s", result.reason)
        return result

    def _registered_se(self, hook: MlflowHook, champion: Any) -> float | None:
        """The bootstrap standard error training recorded for the registry metric (None if absent)."""
        if not champion.run_id:
            return None
        metrics = hook.client.get_run(champion.run_id).data.metrics
        value = metrics.get(f"{self.model_config.registry.metric}_se")
        return float(value) if value is not None else None

    def _label_drift(self, reference: Any, labelled: Any) -> Any:
        from driftline.drift.target import label_drift, not_evaluated

        if reference is None:
            return not_evaluated("label", self.model_config.drift.label, self.reference_problem)
        if labelled is None:
            return not_evaluated("label", self.model_config.drift.label, self.labels_problem)
        result = label_drift(reference, labelled, self.model_config)
        self.log.info("Label drift: %s", self._verdict(result))
        return result

    def _prediction_drift(self, reference: Any, current: Any, model: Any) -> Any:
        from driftline.drift.target import not_evaluated, prediction_drift

        settings = self.model_config.drift.prediction
        if reference is None:
            return not_evaluated("prediction", settings, self.reference_problem)
        if model is None:
            return not_evaluated("prediction", settings, "drift.prediction.enabled is false")
        result = prediction_drift(model, reference, current, self.model_config)
        self.log.info("Prediction drift: %s", self._verdict(result))
        return result

    def _performance_estimate(
        self, reference: Any, rows: Any, model: Any, champion: Any, ref: Any, context: Any
    ) -> dict[str, Any]:
        """The label-free estimate on the run's own interval, with what a later run needs to compare it."""
        from driftline.drift.performance import estimate_performance, not_evaluated

        config = self.model_config
        if reference is None:
            result = not_evaluated(config, self.reference_problem)
        else:
            result = estimate_performance(model, reference, rows, config)
        self.log.info(
            "Performance estimate: %s",
            result.reason if result.evaluated else f"not evaluated ({result.reason})",
        )
        start, end = run_interval(context)
        window = {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "current_uri": ref.uri,
            "current_sha256": ref.sha256 or None,
            "champion_version": int(champion.version),
            "rows_in_window": len(rows),
        }
        return {**result.to_dict(), "window": window}

    def _reconcile_estimates(
        self, hook: MlflowHook, champion: Any, model: Any, context: Any
    ) -> list[dict[str, Any]]:
        """Earlier intervals' estimates whose labels have arrived since: record the realised metric beside them.

        Looks at the monitoring records of the last `drift.performance_estimation.reconcile_days` days
        (by data time, before this run's) still marked pending. Their labels are read again from
        `data.labels` (or `data.source` when labels come with the rows) for that interval and joined
        onto that interval's snapshot by entity id; once `min_label_coverage` of its rows have a label,
        the champion version that made the estimate is scored on them and the record gets
        `realised.<metric>`, `estimate_error` (estimate - realised) and `estimate_covered`. Each record
        is reconciled once (its status tag moves to reconciled; a retry re-logs the same values).
        """
        from driftline.data.snapshots import read_snapshot
        from driftline.drift.concept import labelled_rows
        from driftline.drift.performance import compare_with_realised, realised_performance
        from driftline.exceptions import SnapshotError
        from driftline.registry.champion import parse_time

        config = self.model_config
        settings = config.drift.performance_estimation
        if settings.reconcile_days == 0:
            return []
        experiment = hook.client.get_experiment_by_name(monitoring_experiment(config.model.name))
        if experiment is None:
            return []
        _, now = run_interval(context)
        oldest = now - dt.timedelta(days=settings.reconcile_days)
        pending = hook.client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`{TAG_ESTIMATE_STATUS}` = 'pending'",
            order_by=["attributes.start_time DESC"],
            max_results=1000,
        )
        models = {int(champion.version): model}
        done: list[dict[str, Any]] = []
        seen: set[str] = set()
        for run in pending:
            record = json.loads(run.data.tags.get(TAG_ESTIMATE, "{}") or "{}")
            window = record.get("window") or {}
            end, start = parse_time(window.get("end")), parse_time(window.get("start"))
            if end is None or start is None or not (oldest <= end < now) or window["end"] in seen:
                continue
            seen.add(window["end"])  # a re-run interval: its latest record is compared, once
            try:
                snapshot = read_snapshot(window["current_uri"], sha256=window.get("current_sha256"))
            except SnapshotError as exc:  # an old snapshot past its retention must not fail today's check
                self.log.warning(
                    "Estimate for %s cannot be compared: its rows are unreadable: %s", window["end"], exc
                )
                hook.client.set_tag(run.info.run_id, TAG_ESTIMATE_STATUS, "snapshot_unreadable")
                continue
            labels = self._labels_between(start, end)
            rows = labelled_rows(snapshot, config, labels)
            coverage = len(rows) / len(snapshot) if len(snapshot) else 0.0
            if coverage < settings.min_label_coverage:
                self.log.info(
                    "Estimate for %s: %d of %d rows labelled (%.0f%% < min_label_coverage %.0f%%), not compared yet",
                    window["end"], len(rows), len(snapshot), 100 * coverage, 100 * settings.min_label_coverage,
                )  # fmt: skip
                continue
            version = int(window["champion_version"])
            if version not in models:
                models[version] = load_champion_version(hook, config, version)
            realised = realised_performance(models[version], rows, config, str(record["metric"]))
            row = compare_with_realised(record, realised, len(rows), len(snapshot))
            row.update(decided_for=window["end"], champion_version=version, mlflow_run_id=run.info.run_id)
            values = {f"realised.{record['metric']}": realised}
            if row.get("error") is not None:
                values.update(estimate_error=row["error"], estimate_covered=float(bool(row["covered"])))
            from driftline.training.tracking import as_metrics

            hook.client.log_batch(run.info.run_id, metrics=as_metrics(values))
            hook.client.set_tag(run.info.run_id, TAG_ESTIMATE_REALISED, json.dumps(row, default=str)[:5000])
            hook.client.set_tag(run.info.run_id, TAG_ESTIMATE_STATUS, "reconciled")
            self.log.info(
                "Estimate for %s vs realised: estimated %s, realised %s on %d labelled rows (covered by the band: %s)",
                window["end"], row.get("estimated"), row.get("realised"), len(rows), row.get("covered"),
            )  # fmt: skip
            done.append(row)
        return done

    def _labels_between(self, start: dt.datetime, end: dt.datetime) -> Any:
        """Labels of an earlier interval as they stand now: `data.labels`, else the source's label column."""
        import pandas as pd

        from driftline.data.frames import NothingArrivedError
        from driftline.data.sources import load_window
        from driftline.data.windows import resolve_window
        from driftline.hooks.sources import AirflowSourceAccess

        d = self.model_config.data
        source, field = (d.labels, "data.labels") if d.labels is not None else (d.source, "data.source")
        columns = [d.entity_id, d.timestamp, d.label]
        try:
            loaded = load_window(
                source,
                resolve_window(d.window, start, end, purpose="current"),
                columns,
                timestamp_col=d.timestamp,
                allow_missing_partitions=True,
                field=field,
                access=AirflowSourceAccess(),
            )
        except NothingArrivedError:
            return pd.DataFrame(columns=columns)
        return loaded.df

    @staticmethod
    def _verdict(result: Any) -> str:
        if not result.evaluated:
            return f"not evaluated ({result.reason})"
        return f"{'DRIFT' if result.drifted else 'no drift'}: {result.reason}"
