"""The A/B evaluation steps: evaluate the running experiment, then close it after the (approved) promotion.

`EvaluateExperimentOperator` loads the experiment's outcomes since it started, joins them with the arms
(recomputed from the experiment's salt and shares) and with the entities the batch inference scored,
decides (driftline.experiments.decision), records the decision in the experiment store first (a retry
acts on the recorded decision, never decides again), writes the report with its plot as MLflow
artifacts, and acts: "stop"/"halt" end the experiment at once; "promote" hands a promotion request to
the approval / promote steps; "continue" leaves it running. `CloseExperimentOperator` ends a promoted
experiment as "promoted", or as "stopped" when the promotion was rejected or timed out.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowSkipException

from driftline.operators.base import run_identity, run_interval
from driftline.operators.registry import RegistryOperator, actor_of


class EvaluateExperimentOperator(RegistryOperator):
    """Decide the running A/B experiment of the model on its outcomes so far.

    Returns {"action", "reason", "experiment": {...}, "decision": {...}, "report": {...},
    "promotion_request": {...} | None}; skipped when no experiment runs.
    """

    ui_color = "#e6f4ea"

    def execute(self, context: Any) -> dict[str, Any]:
        from driftline.alerting import AlertEvent, emit_alert
        from driftline.experiments import store
        from driftline.registry.promotion import require_version

        config = self.model_config
        ab = config.ab_test
        if ab is None or not ab.enabled:
            raise AirflowSkipException(f"model {config.model.name!r} has no enabled ab_test section")
        name = config.registered_model_name
        client = self.hook.client
        policy = self.policy()
        experiment = store.current_experiment(client, name, policy)
        if experiment is None:
            raise AirflowSkipException(f"no A/B experiment of {name!r} is running")
        identity = run_identity(context)
        op_key = f"{identity.dag_id}/{identity.run_id}"
        _, end = run_interval(context)
        earlier = [d for d in experiment.decisions if d.get("op_key") == op_key]
        if earlier:
            decided = earlier[-1]
            self.log.info("run %s already decided %s: acting on it", op_key, decided.get("action"))
            report = dict(decided.get("report") or {})
        else:
            try:
                require_version(self.hook, name, experiment.challenger_version, policy)
                require_version(self.hook, name, experiment.champion_version, policy)
                decided, report = self._decide(experiment, end, op_key)
            except Exception as exc:
                from driftline.registry.errors import RegistryInputError

                if not isinstance(exc, RegistryInputError):
                    raise
                decided = {
                    "action": "halt",
                    "reason": f"a version under test left the registry: {exc}; nothing is promoted",
                }
                report = {}
            evaluation = decided.pop("_evaluation", None)
            try:
                decided = store.record_decision(
                    client, name, experiment.id, decided, op_key=op_key, policy=policy, evaluation=evaluation
                )
            except store.ExperimentEndedError as exc:  # stopped by another run while this one decided
                raise AirflowSkipException(f"not acted on: {exc}") from exc
        action = str(decided["action"])
        if action in ("stop", "halt"):
            store.finish_experiment(
                client, name, experiment.id, "stopped" if action == "stop" else "halted",
                str(decided.get("reason", "")), op_key=op_key, policy=policy, data_end=end,
            )  # fmt: skip
        if action != "continue":
            emit_alert(
                AlertEvent(
                    model=config.model.name,
                    kind="experiment_decided",
                    severity="warning" if action == "halt" else "info",
                    message=f"A/B test of v{experiment.challenger_version} vs v{experiment.champion_version}: "
                    f"{action}: {decided.get('reason', '')}"[:2000],
                    details={
                        "experiment": experiment.id,
                        "action": action,
                        "p_value": decided.get("p_value"),
                        "effect": decided.get("effect"),
                        "statistic": decided.get("statistic"),
                        "unassigned": decided.get("unassigned"),
                        "report": report.get("artifact_uri"),
                    },
                    run={"dag_id": identity.dag_id, "run_id": identity.run_id, "task_id": identity.task_id},
                )
            )
        request = None
        if action == "promote":
            arms = decided.get("arms") or {}
            request = {
                "source": "ab_test",
                "model": name,
                "version": experiment.challenger_version,
                "expected_champion": experiment.champion_version,
                "reason": f"A/B test #{experiment.id}: {decided.get('reason', '')}",
                "metric": f"KPI ({ab.outcomes.kpi if ab.outcomes else 'kpi'}, mean per entity)",
                "direction": ab.decision.direction,
                "challenger_score": (arms.get("challenger") or {}).get("kpi_mean"),
                "champion_score": (arms.get("champion") or {}).get("kpi_mean"),
                "interval": {"lower": decided.get("lower"), "upper": decided.get("upper")},
                "ab_result": {k: v for k, v in decided.items() if k not in ("report",)},
                "evaluated_on": str(report.get("artifact_uri") or ""),
                "data_window": {"start": experiment.started_at.isoformat(), "end": end.isoformat()},
                "requested_by": actor_of(context),
                "details": {"experiment": experiment.id, "data_time": end.isoformat()},
            }
        self.log.info("A/B test #%s of %s: %s (%s)", experiment.id, name, action, decided.get("reason"))
        return {
            "action": action,
            "reason": str(decided.get("reason", "")),
            "experiment": {
                "id": experiment.id,
                "champion": experiment.champion_version,
                "challenger": experiment.challenger_version,
            },
            "decision": decided,
            "report": report,
            "promotion_request": request,
        }

    def _decide(
        self, experiment: Any, end: dt.datetime, op_key: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Load, join, decide and report; the decision dict (with its evaluation record) and the report."""
        from driftline.experiments.evaluation import (
            days_between,
            evaluate,
            evaluation_record,
            join_outcomes,
            plan_for,
        )

        config = self.model_config
        ab = config.ab_test
        assert ab is not None and ab.outcomes is not None  # noqa: S101 - narrows the type: the factory adds this task only with ab_test.outcomes
        start = experiment.started_at
        if end <= start:
            return {
                "action": "continue",
                "reason": f"the experiment started at {start}, after this run's data end {end}",
            }, {}
        from driftline.experiments.outcomes import load_outcomes
        from driftline.hooks.sources import AirflowSourceAccess

        outcomes = load_outcomes(ab, start, end, access=AirflowSourceAccess())
        assigned = self._served_entities(experiment, end)
        pre_period = None
        if ab.outcomes.covariate:  # CUPED: the covariate from before exposure (the experiment's start)
            pre_start = start - dt.timedelta(days=ab.decision.max_days)
            pre_period = load_outcomes(ab, pre_start, start, access=AirflowSourceAccess()).df
        joined = join_outcomes(
            outcomes.df, experiment, assigned,
            covariate=bool(ab.outcomes.covariate), guardrails=list(ab.decision.guardrails),
            pre_period=pre_period,
        )  # fmt: skip
        decision = evaluate(
            joined,
            plan_for(ab, experiment),
            days_running=days_between(start, end),
            max_days=ab.decision.max_days,
        )
        report = self._report(experiment, decision, joined, op_key)
        decided = decision.to_dict() | {"report": report, "_evaluation": evaluation_record(decision, joined)}
        return decided, report

    def _served_entities(self, experiment: Any, end: dt.datetime) -> list[Any]:
        """Entity ids the batch inference served in this experiment before `end`: only data windows with
        a served record (driftline.experiments.store.record_served) count, and in each only the entities
        of the arms it served (a day that failed before scoring, or scored the champion alone, adds
        nobody to an arm)."""
        from driftline.data.frames import NothingArrivedError
        from driftline.data.sources import load_window
        from driftline.data.windows import Window
        from driftline.experiments.evaluation import served_ids
        from driftline.hooks.sources import AirflowSourceAccess

        config = self.model_config
        ids: list[Any] = []
        for record in experiment.served:
            w_start = dt.datetime.fromisoformat(record["data_start"])
            w_end = dt.datetime.fromisoformat(record["data_end"])
            if w_start >= end:
                continue
            try:
                loaded = load_window(
                    config.data.source,
                    Window(start=w_start, end=w_end, kind="current", days=None),
                    [config.data.entity_id],
                    timestamp_col=config.data.timestamp,
                    allow_missing_partitions=True,
                    access=AirflowSourceAccess(),
                )
            except NothingArrivedError:
                continue
            ids += served_ids(experiment, loaded.df[config.data.entity_id].unique(), record["arms"])
        return ids

    def _report(self, experiment: Any, decision: Any, joined: Any, op_key: str) -> dict[str, Any]:
        """Write the Markdown report and its plot as artifacts of an MLflow run of this Airflow run."""
        from driftline.experiments.evaluation import kpi_plot, report_markdown

        client = self.hook.client
        experiment_id = self.hook.get_or_create_experiment(
            f"driftline/{self.model_config.model.name}/ab_tests"
        )
        found = client.search_runs(
            [experiment_id], filter_string=f"tags.`driftline.op_key` = '{op_key}'", max_results=1
        )
        run = found[0] if found else client.create_run(
            experiment_id,
            run_name=f"ab-{experiment.id}-{op_key.rsplit('/', 1)[-1]}",
            tags={"driftline.op_key": op_key, "driftline.ab_experiment": str(experiment.id)},
        )  # fmt: skip
        run_id = run.info.run_id
        with tempfile.TemporaryDirectory() as tmp:
            plot = Path(tmp) / "kpi_per_arm.png"
            has_plot = not joined.daily.empty
            if has_plot:
                kpi_plot(
                    joined.daily,
                    str(plot),
                    f"{experiment.model}: challenger v{experiment.challenger_version} vs champion v{experiment.champion_version}",
                )
            (Path(tmp) / "report.md").write_text(
                report_markdown(experiment, decision, joined, plot.name if has_plot else None),
                encoding="utf-8",
            )
            joined.daily.to_csv(Path(tmp) / "kpi_per_arm_daily.csv", index=False)
            client.log_artifacts(run_id, tmp, artifact_path="ab_report")
        client.log_metric(run_id, "ab_unassigned_outcomes", float(joined.unassigned))
        for key in ("p_value", "effect", "statistic", "srm_p_value"):
            value = getattr(decision, key)
            if value is not None:
                client.log_metric(run_id, f"ab_{key}", float(value))
        client.set_terminated(run_id)
        return {"run_id": run_id, "artifact_uri": f"{run.info.artifact_uri}/ab_report/report.md"}


class CloseExperimentOperator(RegistryOperator):
    """End an experiment the evaluation wanted promoted: "promoted" if the alias moved, else "stopped".

    :param evaluation: the evaluate step's result (templated). :param promotion: the promote step's
    result (templated; None when the promotion was rejected, timed out or skipped).
    """

    template_fields: Sequence[str] = ("evaluation", "promotion")

    def __init__(self, *, evaluation: Any, promotion: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.evaluation = evaluation
        self.promotion = promotion

    def execute(self, context: Any) -> dict[str, Any]:
        from driftline.experiments import store

        evaluation = dict(self.evaluation or {})
        if evaluation.get("action") != "promote":
            raise AirflowSkipException(
                f"nothing to close: the evaluation decided {evaluation.get('action')!r}"
            )
        identity = run_identity(context)
        experiment_id = int(evaluation["experiment"]["id"])
        promotion = dict(self.promotion or {})
        if promotion.get("version") == evaluation["experiment"]["challenger"]:
            status, reason = (
                "promoted",
                f"promoted v{promotion['version']}"
                + (f", approved by {promotion['approved_by']}" if promotion.get("approved_by") else ""),
            )
        else:
            status, reason = (
                "stopped",
                "the promotion was not approved (rejected or timed out); the champion stays",
            )
        ended = store.finish_experiment(
            self.hook.client, self.model_config.registered_model_name, experiment_id, status, reason,
            op_key=f"{identity.dag_id}/{identity.run_id}", policy=self.policy(),
        )  # fmt: skip
        return {"experiment": experiment_id, "status": ended.status, "reason": ended.end_reason}
