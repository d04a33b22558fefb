"""What the Driftline page shows, read from one source (see `driftline.ui.sources`).

Every figure comes from where the pipelines record it:
- champion / challenger: the MLflow registry aliases and the version tags (`registry.champion`);
- drift and the live metric: the retrain-decision runs of the MLflow experiment
  `driftline/<model>/monitoring` (one per Airflow run: `data_drift_share`, `drift_score.<col>`,
  `drifted.<col>`, `live.<metric>`; the drift report is an artifact under `drift/`);
- runs: Airflow's `dag_run` table, read through a database session;
- alerts: the alert log (`driftline.alerting.record`);
- per-run metrics (rows, predictions, validation pass rate, durations): the `run_metrics` records
  of the same experiment (`driftline.monitoring.model_history`);
- experiment: the experiment store (`driftline.experiments.store`, registered-model tags);
- cost this month, daily cost and ROI: the cost ledger (`driftline.cost.report.model_cost`), ROI
  from the experiment's per-arm KPI summaries against `no_model`.
A section whose source has nothing recorded says so in a sentence (`Missing`), never as zeros.
Nothing here imports mlflow or Airflow at module level.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.factory.ids import pipeline_dag_id
from driftline.ui.sources import redact_uri

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from driftline.config.models import ModelConfig
    from driftline.ui.sources import Source

MONITORING_TAG_DECIDED_FOR = "driftline.decided_for"
DRIFT_SCORE = "drift_score."
DRIFTED = "drifted."
LIVE = "live."
ESTIMATED = "estimated."
REALISED = "realised."
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class Missing:
    """A section whose source is not recorded (yet): shown as this sentence, never as zeros."""

    why: str


@dataclass
class VersionFacts:
    """A registered version behind an alias."""

    version: int
    run_id: str
    metric_name: str
    metric_value: float | None
    trained_until: dt.datetime | None
    promoted_at: dt.datetime | None


@dataclass
class RunFacts:
    """One Airflow run of a model's pipeline DAG."""

    dag_id: str
    run_id: str
    state: str
    run_type: str
    logical_date: dt.datetime | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None


@dataclass
class DriftPoint:
    """One retrain decision (one Airflow run) of the monitoring experiment."""

    decided_for: dt.datetime
    mlflow_run_id: str
    experiment_id: str
    airflow_run_id: str
    decision: str
    drift_share: float | None
    drifted_columns: float | None
    scores: dict[str, float] = field(default_factory=dict)
    drifted: dict[str, bool] = field(default_factory=dict)
    live: dict[str, float] = field(default_factory=dict)
    #: the label-free estimate (`estimated.<metric>`), its band, and the realised value once labels came
    estimated: dict[str, float] = field(default_factory=dict)
    estimated_band: tuple[float, float] | None = None
    realised: dict[str, float] = field(default_factory=dict)


@dataclass
class ModelPage:
    """Everything the page shows about one model."""

    name: str
    registered_name: str
    dag_id: str
    metric: str
    champion: VersionFacts | Missing | None
    challenger: VersionFacts | Missing | None
    runs: list[RunFacts] | Missing
    drift: list[DriftPoint] | Missing
    alerts: list[dict[str, Any]] | Missing
    open_alerts: list[dict[str, Any]]
    experiment: dict[str, Any] | Missing | None
    cost: dict[str, Any] | Missing
    roi: dict[str, Any] | Missing
    run_metrics: list[dict[str, Any]] | Missing = field(default_factory=list)

    @property
    def last_run(self) -> RunFacts | None:
        return self.runs[0] if isinstance(self.runs, list) and self.runs else None


class ReadOnlyMlflow:
    """An MlflowClient for one store, with no process-wide side effect (no `mlflow.set_*_uri`)."""

    def __init__(self, tracking_uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.client: MlflowClient = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _problem(what: str, exc: BaseException) -> Missing:
    """`what` could not be read, and why (any URL's user and password left out)."""
    first = redact_uri(str(exc).splitlines()[0])[:300] if str(exc) else ""  # redacted before it is cut
    return Missing(f"{redact_uri(what)} could not be read: {type(exc).__name__}: {first}")


# ---- registry -------------------------------------------------------------------------------


def aliases(mlflow: ReadOnlyMlflow, name: str) -> dict[str, VersionFacts | None] | Missing:
    """champion and challenger of registered model `name` (None when the alias is not set)."""
    from driftline.registry.champion import read_aliases, version_info

    try:
        found = read_aliases(mlflow, name)
        if found is None:
            return Missing(f"no registered model {name!r} in MLflow yet (no run has registered a version)")
        out: dict[str, VersionFacts | None] = {}
        for alias in ("champion", "challenger"):
            version = found.get(alias)
            if version is None:
                out[alias] = None
                continue
            info = version_info(mlflow, name, version)
            out[alias] = VersionFacts(
                version=info.version,
                run_id=info.run_id,
                metric_name=info.metric_name,
                metric_value=info.metric_value,
                trained_until=info.trained_until,
                promoted_at=info.promoted_at,
            )
        return out
    except Exception as exc:  # the page shows what failed instead of failing whole
        return _problem(f"MLflow registry at {redact_uri(mlflow.tracking_uri)}", exc)


# ---- monitoring experiment --------------------------------------------------------------------


def _parse_time(value: str | None) -> dt.datetime | None:
    from driftline.registry.champion import parse_time

    return parse_time(value)


def drift_point(run: Any) -> DriftPoint | None:
    """The DriftPoint of one monitoring run (None when it records no decision time)."""
    tags = run.data.tags
    when = _parse_time(tags.get(MONITORING_TAG_DECIDED_FOR))
    if when is None:
        return None
    metrics: dict[str, float] = dict(run.data.metrics)
    return DriftPoint(
        decided_for=when,
        mlflow_run_id=str(run.info.run_id),
        experiment_id=str(run.info.experiment_id),
        airflow_run_id=str(tags.get("airflow.run_id", "")),
        decision=str(tags.get("driftline.decision", "")),
        drift_share=metrics.get("data_drift_share"),
        drifted_columns=metrics.get("drifted_columns"),
        scores={k[len(DRIFT_SCORE) :]: v for k, v in metrics.items() if k.startswith(DRIFT_SCORE)},
        drifted={k[len(DRIFTED) :]: bool(v) for k, v in metrics.items() if k.startswith(DRIFTED)},
        live={k[len(LIVE) :]: v for k, v in metrics.items() if k.startswith(LIVE)},
        estimated={k[len(ESTIMATED) :]: v for k, v in metrics.items() if k.startswith(ESTIMATED)},
        estimated_band=(
            (metrics["estimated_lower"], metrics["estimated_upper"])
            if "estimated_lower" in metrics and "estimated_upper" in metrics
            else None
        ),
        realised={k[len(REALISED) :]: v for k, v in metrics.items() if k.startswith(REALISED)},
    )


def drift_history(
    mlflow: ReadOnlyMlflow, model: str, limit: int = HISTORY_LIMIT
) -> list[DriftPoint] | Missing:
    """The model's retrain decisions, oldest data first (one per Airflow run)."""
    from driftline.operators.drift_records import monitoring_experiment

    name = monitoring_experiment(model)
    try:
        experiment = mlflow.client.get_experiment_by_name(name)
        if experiment is None:
            return Missing(f"no MLflow experiment {name!r} yet (no drift check has run)")
        runs = mlflow.client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`{MONITORING_TAG_DECIDED_FOR}` != ''",
            order_by=["attributes.start_time DESC"],
            max_results=limit,
        )
    except Exception as exc:
        return _problem(f"MLflow experiment {name!r}", exc)
    latest: dict[dt.datetime, DriftPoint] = {}
    for run in runs:  # newest first: a re-run of the same interval keeps the newest decision
        point = drift_point(run)
        if point is not None and point.decided_for not in latest:
            latest[point.decided_for] = point
    return [latest[k] for k in sorted(latest)]


def drift_artifacts(mlflow: ReadOnlyMlflow, run_id: str) -> list[str]:
    """Paths of the drift artifacts (summary, HTML report) stored with a monitoring run."""
    return [str(f.path) for f in mlflow.client.list_artifacts(run_id, "drift") if not f.is_dir]


def report_path(artifacts: list[str]) -> str | None:
    html = [p for p in artifacts if p.endswith(".html")]
    return html[0] if html else None


# ---- Airflow ----------------------------------------------------------------------------------


def dag_runs(source: Source, dag_id: str, limit: int = HISTORY_LIMIT) -> list[RunFacts] | Missing:
    """The newest runs of `dag_id`, newest first, from the source's Airflow database."""
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    try:
        with source.airflow_session() as session:
            rows = session.execute(
                select(
                    DagRun.dag_id,
                    DagRun.run_id,
                    DagRun._state,
                    DagRun.run_type,
                    DagRun.logical_date,
                    DagRun.start_date,
                    DagRun.end_date,
                )
                .where(DagRun.dag_id == dag_id)
                .order_by(DagRun.run_after.desc(), DagRun.id.desc())
                .limit(limit)
            ).all()
    except Exception as exc:
        return _problem("Airflow's dag_run table", exc)
    return [
        RunFacts(
            dag_id=r[0],
            run_id=r[1],
            state=str(r[2] or "none"),
            run_type=str(r[3]),
            logical_date=_utc(r[4]),
            start_date=_utc(r[5]),
            end_date=_utc(r[6]),
        )
        for r in rows
    ]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# ---- alerts -----------------------------------------------------------------------------------


def read_alerts(path: Path, model: str) -> list[dict[str, Any]] | Missing:
    """The model's alerts from the alert log, newest first."""
    if not path.exists():
        return []
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        return _problem(f"the alert log {path}", exc)
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("model") == model:
            out.append(event)
    out.sort(key=lambda e: str(e.get("created_at", "")), reverse=True)
    return out


def open_alerts(alerts: list[dict[str, Any]], runs: list[RunFacts]) -> list[dict[str, Any]]:
    """The alerts of the runs since the model's last successful run, that run included.

    The alert log has no acknowledgement: an alert stays open until a later run of the pipeline
    has succeeded. Alerts raised by that successful run itself (drift found, budget crossed) stay
    open; an alert that names no run is open when raised after that run ended. With no
    successful run, every alert is open. `runs` is newest first.
    """
    current: set[str] = set()
    ended: dt.datetime | None = None
    for run in runs:
        current.add(run.run_id)
        if run.state == "success":
            ended = run.end_date
            break
    else:
        return list(alerts)
    out = []
    for alert in alerts:
        run_id = (alert.get("run") or {}).get("run_id") if isinstance(alert.get("run"), dict) else None
        if run_id:
            if run_id in current:
                out.append(alert)
        elif ended is None or (_parse_time(str(alert.get("created_at") or "")) or ended) >= ended:
            out.append(alert)
    return out


# ---- experiments, run metrics, cost -----------------------------------------------------------


def experiment_status(mlflow: ReadOnlyMlflow, registered_name: str) -> dict[str, Any] | Missing | None:
    """The running A/B experiment of the model, else its latest one (None when it never had one)."""
    from driftline.experiments.store import list_experiments

    try:
        experiments = list_experiments(mlflow.client, registered_name)
    except Exception as exc:
        return _problem("the experiment store", exc)
    running = [e for e in experiments if e.running]
    chosen = running[-1] if running else (experiments[-1] if experiments else None)
    if chosen is None:
        return None
    return {
        "id": chosen.id,
        "status": chosen.status,
        "champion_version": chosen.champion_version,
        "challenger_version": chosen.challenger_version,
        "started_at": chosen.started_at,
        "ended_at": chosen.ended_at,
        "end_reason": chosen.end_reason,
        "shares": dict(chosen.shares),
        "last_evaluation": dict(chosen.last_evaluation or {}),
        "decisions": list(chosen.decisions or []),
        "waiting": list(chosen.waiting or []),
    }


def run_metrics(mlflow: ReadOnlyMlflow, model: str) -> list[dict[str, Any]] | Missing:
    """The model's per-run metric records (driftline.monitoring.model_history), oldest first."""
    from driftline.monitoring.record import model_history

    try:
        return model_history(mlflow.client, model)
    except Exception as exc:
        return _problem("the run-metrics records", exc)


def ledger_url(source: Source) -> str:
    """The source's cost ledger: the stack's `cost_ledger_url` setting (else its SQLite file), the demo's file."""
    from driftline.cost.ledger import default_url

    if source.name == "stack":
        return default_url()
    return f"sqlite:///{source.home / 'cost' / 'ledger.db'}"


def cost_and_roi(
    source: Source,
    config: ModelConfig,
    experiment: dict[str, Any] | Missing | None,
    today: dt.date | None = None,
) -> tuple[dict[str, Any] | Missing, dict[str, Any] | Missing]:
    """(cost: this month, budget use, daily amounts; ROI) from the cost ledger (driftline.cost)."""
    from driftline.cost.report import model_cost

    if config.cost is None or not config.cost.enabled:
        why = Missing("cost is not recorded for this model (its config has no enabled `cost:` section)")
        return why, why
    url = ledger_url(source)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        why = Missing(f"no cost recorded yet (the cost ledger {url} does not exist)")
        return why, why
    arms: dict[str, Any] | None = None
    reason = "no A/B experiment with a no_model holdout has run for this model"
    started: dt.date | None = None
    if isinstance(experiment, Missing):
        reason = experiment.why
    elif experiment is not None:
        arms = (experiment.get("last_evaluation") or {}).get("arms") or None
        if arms is None:
            reason = "the experiment has not been evaluated yet (no per-arm KPI summaries)"
        started_at = experiment.get("started_at")
        started = started_at.date() if isinstance(started_at, dt.datetime) else None
    try:
        from driftline.cost.ledger import Ledger

        ledger = Ledger(url)
        try:
            figures = model_cost(
                ledger,
                config.model.name,
                config.cost,
                arms=arms,
                no_roi_reason=reason,
                roi_since=started,
                today=today,
            )
        finally:
            ledger.engine.dispose()
    except Exception as exc:
        why = _problem(f"the cost ledger {redact_uri(url)}", exc)
        return why, why
    cost = {
        "currency": figures.currency,
        "month": figures.month,
        "month_total": figures.month_total,
        "budget": figures.budget,
        "budget_used": figures.budget_used,
        "total": figures.total,
        "runs": figures.runs,
        "by_kind": figures.by_kind,
        "cost_per_1k_predictions": figures.cost_per_1k_predictions,
        "daily": figures.daily,
    }
    roi = {**figures.roi.to_dict(), "text": figures.roi.describe(figures.currency)}
    return cost, roi


# ---- the page ---------------------------------------------------------------------------------


def model_page(source: Source, config: ModelConfig, mlflow: ReadOnlyMlflow | None = None) -> ModelPage:
    """Read everything the page shows about one model from `source`."""
    mlflow = mlflow or ReadOnlyMlflow(source.tracking_uri)
    name = config.model.name
    registered = config.registered_model_name
    dag_id = pipeline_dag_id(name)
    found = aliases(mlflow, registered)
    champion: VersionFacts | Missing | None
    challenger: VersionFacts | Missing | None
    if isinstance(found, Missing):
        champion = challenger = found
    else:
        champion, challenger = found["champion"], found["challenger"]
    runs = dag_runs(source, dag_id)
    alerts = read_alerts(source.alerts_file, name)
    opened = open_alerts(alerts, runs if isinstance(runs, list) else []) if isinstance(alerts, list) else []
    experiment = experiment_status(mlflow, registered)
    cost, roi = cost_and_roi(source, config, experiment)
    return ModelPage(
        name=name,
        registered_name=registered,
        dag_id=dag_id,
        metric=config.registry.metric,
        champion=champion,
        challenger=challenger,
        runs=runs,
        drift=drift_history(mlflow, name),
        alerts=alerts,
        open_alerts=opened,
        experiment=experiment,
        cost=cost,
        roi=roi,
        run_metrics=run_metrics(mlflow, name),
    )


def load_models(folder: Path | None = None) -> tuple[list[ModelConfig], dict[str, str]]:
    """The model configs of the configs folder and the files that do not load (path -> error)."""
    from driftline.config.loader import load_folder
    from driftline.settings import configs_dir

    loaded = load_folder(folder or configs_dir())
    configs = sorted(loaded.configs.values(), key=lambda c: c.model.name)
    return configs, {str(path): str(err) for path, err in loaded.errors.items()}
