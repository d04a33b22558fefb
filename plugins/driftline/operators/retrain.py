"""decide_retrain: the retrain policy's branch, recorded as an MLflow run in the monitoring experiment.

RetrainDecisionOperator applies driftline.drift.policy.decide_retrain, pushes the decision under
XCom key "decision", records it as an MLflow run in experiment `driftline/<model>/monitoring`
and returns the task id of the branch to follow.

Asset events: outlets declared on a task are emitted whenever it succeeds, and a branch task
succeeds on both branches. So the operator declares an AssetAlias
(`driftline.<model>.retrain_needed.alias`) as its outlet and adds an event for
`driftline.assets.retrain_needed(model)` through that alias only when it decides to retrain; an
alias with no event added emits nothing. DAGs scheduled on `retrain_needed(model)` run only then.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.branch import BranchMixIn

from driftline import assets
from driftline.assets import retrain_needed
from driftline.operators.base import DriftlineOperator, run_identity, run_interval, run_params
from driftline.operators.drift_records import (
    TAG_CONCEPT_EVALUATED,
    TAG_DATA_EVALUATED,
    TAG_DECIDED_FOR,
    TAG_DECISION,
    TAG_DRIFT_SIGNAL,
    TAG_ESTIMATE,
    TAG_ESTIMATE_STATUS,
    champion_from_dict,
    decision_records,
    drift_signal_history,
    flag,
    iso,
    monitoring_experiment,
    unflag,
)

if TYPE_CHECKING:
    from driftline.config.models import ModelConfig
    from driftline.hooks.mlflow import MlflowHook


METRIC_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]+")  # what MLflow refuses in a metric name


def _log_artifact_bytes(client: Any, run_id: str, uri: str, artifact_path: str) -> None:
    """Copy one file of the snapshot store (local or object store) into the run's artifacts."""
    import tempfile
    from pathlib import Path

    from driftline.data.snapshots import read_bytes

    with tempfile.TemporaryDirectory(prefix="driftline-artifact-") as tmp:
        local = Path(tmp) / uri.rsplit("/", 1)[-1]
        local.write_bytes(read_bytes(uri))
        client.log_artifact(run_id, str(local), artifact_path)


class RetrainDecisionOperator(DriftlineOperator, BranchMixIn):
    """Branch: `retrain_task_id` when the retrain policy says so, else `skip_task_id`.

    :param drift: check_drift's output (templated, e.g. `check.output`).
    """

    template_fields = ("drift",)
    inherits_from_skipmixin = True
    ui_color = "#fbe3e3"

    def __init__(
        self,
        *,
        drift: Any,
        retrain_task_id: str = "load_training",
        skip_task_id: str = "keep_champion",
        mlflow_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        model_config = kwargs["model_config"]
        kwargs.setdefault("outlets", [assets.retrain_needed_alias(model_config.model.name)])
        super().__init__(**kwargs)
        self.drift = drift
        self.retrain_task_id = retrain_task_id
        self.skip_task_id = skip_task_id
        self.mlflow_conn_id = mlflow_conn_id or self.model_config.registry.mlflow_conn_id

    def execute(self, context: Any) -> str:
        from driftline.drift.concept import ConceptDriftResult
        from driftline.drift.data_drift import DataDriftResult
        from driftline.drift.policy import decide_retrain, last_retrain_time
        from driftline.drift.target import TargetDriftResult
        from driftline.hooks.mlflow import MlflowHook

        config: ModelConfig = self.model_config
        drift = dict(self.drift or {})
        data = drift.get("data_drift") or {}
        data_drift = DataDriftResult.from_dict(data) if data.get("evaluated") else None
        concept = drift.get("concept_drift") or {}
        concept_drift = ConceptDriftResult.from_dict(concept) if "metric" in concept else None
        targets = {}
        for kind in ("label", "prediction"):
            raw = drift.get(f"{kind}_drift") or {}
            targets[kind] = TargetDriftResult.from_dict(raw) if "retrain" in raw else None
        champion = champion_from_dict(drift.get("champion"))
        estimate = None
        raw_estimate = drift.get("performance_estimate") or {}
        if config.drift.performance_estimation.enabled and "evaluated" in raw_estimate:
            from driftline.drift.estimation import PerformanceEstimate

            estimate = PerformanceEstimate.from_dict(raw_estimate)
        _, now = run_interval(context)
        identity = run_identity(context)
        hook = MlflowHook(self.mlflow_conn_id)
        experiment_id = hook.get_or_create_experiment(monitoring_experiment(config.model.name))
        last_decision = self._last_retrain_decision(hook, experiment_id, identity.run_id, now)
        # Data time, not wall-clock time: the champion's training data end and earlier runs' decision
        # times are both data-interval times, so a backfill or the demo decides as production would.
        last_retrain_at = last_retrain_time(getattr(champion, "trained_until", None), last_decision)
        max_age = config.drift.max_model_age_days
        persistence = config.drift.persistence
        history = (
            drift_signal_history(decision_records(hook, config.model.name))
            if persistence.k > 1 or persistence.n > 1
            else []
        )
        decision = decide_retrain(
            data_drift=data_drift,
            concept_drift=concept_drift,
            champion=champion,
            now=now,
            last_retrain_at=last_retrain_at,
            force=run_params(context).force_retrain,
            max_model_age=dt.timedelta(days=max_age) if max_age is not None else None,
            cooldown=dt.timedelta(hours=config.drift.cooldown_hours),
            label_drift=targets["label"],
            prediction_drift=targets["prediction"],
            persistence=(persistence.k, persistence.n),
            drift_history=history,
            own_run_id=identity.run_id,
            performance_estimate=estimate,
        )
        payload = {
            **decision.to_dict(),
            "decided_for": now.isoformat(),
            "last_retrain_at": iso(last_retrain_at),
            "branch": self.retrain_task_id if decision.retrain else self.skip_task_id,
        }
        verdict = "RETRAIN" if decision.retrain else "keep the champion"
        self.log.info("Retrain decision for %s: %s", config.model.name, verdict)
        for reason in decision.reasons:
            self.log.info("  reason: %s", reason)
        for reason in decision.suppressed:
            self.log.info("  suppressed by cooldown: %s", reason)
        for note in decision.notes:
            self.log.info("  note: %s", note)
        evaluated = {
            TAG_DATA_EVALUATED: flag(data.get("evaluated")),
            TAG_CONCEPT_EVALUATED: flag(concept.get("evaluated") if config.drift.concept.enabled else None),
        }
        payload["mlflow_run_id"] = self._record(
            hook, experiment_id, payload, data_drift, concept_drift, identity, evaluated, targets, drift
        )
        records = decision_records(hook, config.model.name)
        self._note_backfill(records, now)
        self._check_not_evaluated(records, now, identity, data, concept)
        context["ti"].xcom_push(key="decision", value=payload)
        if decision.retrain:
            context["outlet_events"][assets.retrain_needed_alias(config.model.name)].add(
                retrain_needed(config.model.name),
                extra={"reasons": decision.reasons, "decided_for": payload["decided_for"]},
            )
        branch: str = payload["branch"]
        self.do_branch(context, branch)
        return branch

    def _note_backfill(self, records: list[Any], now: dt.datetime) -> None:
        """Say so when later intervals were decided before this one: they are not re-decided."""
        from driftline.registry.champion import parse_time

        later = sorted(
            {
                when
                for run in records
                if (when := parse_time(run.data.tags.get(TAG_DECIDED_FOR))) and when > now
            }
        )
        if later:
            self.log.warning(
                "backfill: %d later interval(s) (data times %s .. %s) were decided before this one; this "
                "decision is the one the schedule would have made for %s (champion, cooldown and model age "
                "as of that data time), but those later decisions were made without it and are not re-decided",
                len(later),
                later[0].isoformat(),
                later[-1].isoformat(),
                now.isoformat(),
            )

    def _check_not_evaluated(
        self,
        records: list[Any],
        now: dt.datetime,
        identity: Any,
        data: dict[str, Any],
        concept: dict[str, Any],
    ) -> None:
        """Alert when a drift check was "not evaluated" for more than drift.max_not_evaluated_runs runs in a row."""
        from driftline.alerting import AlertEvent, emit_alert
        from driftline.drift.policy import not_evaluated_streak
        from driftline.registry.champion import parse_time

        config = self.model_config
        limit = config.drift.max_not_evaluated_runs
        records = list(reversed(records))  # oldest first: the last record of an interval wins
        for tag, check, result in (
            (TAG_DATA_EVALUATED, "data drift", data),
            (TAG_CONCEPT_EVALUATED, "concept drift", concept),
        ):
            history = [
                (when, unflag(run.data.tags.get(tag)))
                for run in records
                if (when := parse_time(run.data.tags.get(TAG_DECIDED_FOR))) is not None
            ]
            streak = not_evaluated_streak(history, now)
            if streak <= limit:
                continue
            reason = str(result.get("reason") or "no reason recorded")
            emit_alert(
                AlertEvent(
                    model=config.model.name,
                    kind="drift_not_evaluated",
                    severity="warning",
                    message=(
                        f"{check} was not evaluated for {streak} consecutive runs up to {now.isoformat()} "
                        f"(drift.max_not_evaluated_runs is {limit}); latest reason: {reason}"
                    ),
                    details={"check": check, "streak": streak, "limit": limit, "reason": reason},
                    run={"dag_id": identity.dag_id, "run_id": identity.run_id, "data_time": now.isoformat()},
                )
            )

    @staticmethod
    def _last_retrain_decision(
        hook: MlflowHook, experiment_id: str, airflow_run_id: str, now: dt.datetime
    ) -> dt.datetime | None:
        """The data time of the latest retrain decided for an earlier interval (policy.last_retrain_decision_time)."""
        from driftline.drift.policy import last_retrain_decision_time
        from driftline.registry.champion import parse_time

        runs = hook.client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{TAG_DECISION}` = 'retrain'",
            order_by=["attributes.start_time DESC"],
            max_results=1000,
        )
        decisions = [
            (when, True, str(run.data.tags.get("airflow.run_id", "")))
            for run in runs
            if (when := parse_time(run.data.tags.get(TAG_DECIDED_FOR))) is not None
        ]
        return last_retrain_decision_time(decisions, now, airflow_run_id)

    def _log_drift_artifacts(self, client: Any, run_id: str, drift: dict[str, Any]) -> None:
        """The drift summary and, when it was built, the HTML report, stored with the monitoring run."""
        for key in ("summary_json", "report_html"):
            uri = drift.get(key)
            if uri:
                _log_artifact_bytes(client, run_id, str(uri), "drift")

    def _record(
        self,
        hook: MlflowHook,
        experiment_id: str,
        payload: dict[str, Any],
        data_drift: Any,
        concept_drift: Any,
        identity: Any,
        evaluated: dict[str, str],
        targets: dict[str, Any] | None = None,
        drift: dict[str, Any] | None = None,
    ) -> str:
        client = hook.client
        tags = {
            **identity.tags(),
            **evaluated,
            TAG_DECISION: "retrain" if payload["retrain"] else "keep",
            TAG_DECIDED_FOR: payload["decided_for"],
            TAG_DRIFT_SIGNAL: flag(payload.get("drift_signal")),
            "driftline.model": self.model_config.model.name,
            "driftline.reasons": json.dumps(payload["reasons"])[:5000],
        }
        estimate = (drift or {}).get("performance_estimate") or {}
        if estimate.get("evaluated"):
            keep = ("metric", "method", "estimated_value", "se", "lower", "upper", "band", "rows", "window")
            tags[TAG_ESTIMATE] = json.dumps({k: estimate.get(k) for k in keep}, default=str)[:5000]
            tags[TAG_ESTIMATE_STATUS] = "pending"
        # One record per Airflow run: a retry reuses a finished record of an earlier try and deletes
        # the half-written ones a crashed try left behind (monitoring never counts a decision twice).
        earlier = client.search_runs(
            [experiment_id],
            filter_string=(
                f"tags.`airflow.run_id` = '{identity.run_id}' and tags.`airflow.task_id` = '{identity.task_id}'"
            ),
            max_results=50,
        )
        for old in earlier:
            if old.info.status == "FINISHED":
                return str(old.info.run_id)
            client.delete_run(old.info.run_id)
        run = client.create_run(experiment_id, tags=tags, run_name=f"decide_retrain {identity.run_id}")
        run_id = run.info.run_id
        params = {
            "decision": tags[TAG_DECISION],
            "reasons": json.dumps(payload["reasons"])[:5000],
            "suppressed": json.dumps(payload["suppressed"])[:5000],
            "notes": json.dumps(payload["notes"])[:5000],
            "branch": payload["branch"],
            "data_drift_evaluated": str(data_drift is not None),
        }
        values: dict[str, float] = {}
        if data_drift is not None:
            values["data_drift_share"] = float(data_drift.drift_share)
            values["drifted_columns"] = float(data_drift.number_of_drifted_columns)
            for name, col in data_drift.columns.items():
                key = METRIC_UNSAFE.sub("_", name)
                if col.statistic is not None:
                    values[f"drift_score.{key}"] = float(col.statistic)
                if col.drifted is not None:
                    values[f"drifted.{key}"] = float(col.drifted)
        if concept_drift is not None and concept_drift.live_value is not None:
            values[f"live.{concept_drift.metric}"] = float(concept_drift.live_value)
            values["concept_drop"] = float(concept_drift.drop)
            if concept_drift.interval:
                values["concept_drop_lower"] = float(concept_drift.interval["lower"])
                values["concept_drop_upper"] = float(concept_drift.interval["upper"])
        if estimate.get("evaluated"):
            values[f"estimated.{estimate['metric']}"] = float(estimate["estimated_value"])
            for key in ("se", "lower", "upper", "drop", "drop_lower", "reference_value"):
                if estimate.get(key) is not None:
                    values[f"estimated_{key}"] = float(estimate[key])
        for kind, target in (targets or {}).items():
            if target is not None and target.evaluated and target.statistic is not None:
                values[f"{kind}_drift_score"] = float(target.statistic)
                values[f"{kind}_drifted"] = float(bool(target.drifted))
        from driftline.training.tracking import as_metrics, as_params

        # One request (MLflow splits it at its batch limits) instead of one per param and metric.
        client.log_batch(run_id, metrics=as_metrics(values), params=as_params(params))
        client.log_text(run_id, json.dumps(payload, indent=2, default=str), "decision.json")
        self._log_drift_artifacts(client, run_id, drift or {})
        from driftline.training.tracking import log_store_files
        from driftline.validation.results import result_uri

        current = (drift or {}).get("current_uri")
        log_store_files(  # the validation result of the window the drift was measured on
            client,
            run_id,
            {"validation/current_window.validation.json": result_uri(current) if current else None},
        )
        client.set_terminated(run_id)
        return str(run_id)
