"""The drift decisions' records in MLflow: the monitoring experiment, its tags, the decisions read
back (persistence history, data clock) and the champion as a JSON-safe payload."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from driftline.payloads import ChampionPayload

if TYPE_CHECKING:
    from driftline.config.models import ModelConfig
    from driftline.hooks.mlflow import MlflowHook

TAG_DECISION = "driftline.decision"
TAG_DECIDED_FOR = "driftline.decided_for"


def monitoring_experiment(model: str) -> str:
    """The MLflow experiment holding a model's drift decisions."""
    return f"driftline/{model}/monitoring"


TAG_DATA_EVALUATED = "driftline.data_drift_evaluated"
TAG_DRIFT_SIGNAL = "driftline.drift_signal"


def drift_signal_history(records: list[Any]) -> list[tuple[dt.datetime, bool | None, str]]:
    """(data time, drift signal, Airflow run id) of recorded decisions, oldest record first.

    `records` is `decision_records` (newest first). A decision recorded before the signal tag
    existed has signal None and is skipped by the persistence rule.
    """
    from driftline.registry.champion import parse_time

    out = []
    for run in reversed(records):
        when = parse_time(run.data.tags.get(TAG_DECIDED_FOR))
        if when is not None:
            signal = unflag(run.data.tags.get(TAG_DRIFT_SIGNAL))
            out.append((when, signal, str(run.data.tags.get("airflow.run_id", ""))))
    return out


TAG_CONCEPT_EVALUATED = "driftline.concept_drift_evaluated"
#: the run's performance estimate (JSON: value, band, metric, window) and its comparison state
TAG_ESTIMATE = "driftline.estimate"
TAG_ESTIMATE_STATUS = "driftline.estimate_status"
TAG_ESTIMATE_REALISED = "driftline.estimate_realised"


def load_champion_version(hook: MlflowHook, config: ModelConfig, version: int) -> Any:
    """A registered version of the model (the one that made an earlier estimate)."""
    from driftline.registry.models import load_model_version

    return load_model_version(hook, config.registered_model_name, version, config)


def decision_records(hook: MlflowHook, model: str, max_results: int = 1000) -> list[Any]:
    """The recorded retrain decisions of `model` (MLflow runs of its monitoring experiment), newest first.

    Transient registry errors are retried (`driftline.registry.retry`); a registry that stays down
    raises RegistryError, never an empty history."""
    from driftline.registry.retry import call

    name = monitoring_experiment(model)
    experiment = call(None, f"read experiment {name!r}", hook.client.get_experiment_by_name, name)
    if experiment is None:
        return []
    return list(
        call(
            None,
            f"read the decisions of {name!r}",
            hook.client.search_runs,
            [experiment.experiment_id],
            filter_string=f"tags.`{TAG_DECIDED_FOR}` != ''",
            order_by=["attributes.start_time DESC"],
            max_results=max_results,
        )
    )


def data_clock(records: list[Any]) -> Any:
    """`clock(at)`: the newest data time any run had decided on by wall-clock time `at` (or None).

    A registry change that records no data time of its own (a rollback) applies from there on.
    """
    from driftline.registry.champion import data_clock_from, parse_time

    points = []
    for run in records:
        when = parse_time(run.data.tags.get(TAG_DECIDED_FOR))
        if when is not None:
            points.append((dt.datetime.fromtimestamp(run.info.start_time / 1000, tz=dt.UTC), when))
    return data_clock_from(points)


def champion_for_data_time(hook: MlflowHook, config: ModelConfig, data_time: dt.datetime) -> tuple[Any, str]:
    """The champion a run scoring data up to `data_time` decides against (see registry.champion)."""
    from driftline.registry.champion import get_champion_as_of

    clock = data_clock(decision_records(hook, config.model.name))
    return get_champion_as_of(hook, config.registered_model_name, data_time, clock)


def flag(value: Any) -> str:
    return "n/a" if value is None else ("true" if value else "false")


def unflag(value: str | None) -> bool | None:
    return {"true": True, "false": False}.get(value or "")


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def champion_to_dict(champion: Any) -> ChampionPayload | None:
    if champion is None:
        return None
    return {
        "name": champion.name,
        "version": int(champion.version),
        "run_id": champion.run_id,
        "metric_name": champion.metric_name,
        "metric_value": champion.metric_value,
        "snapshot_uri": champion.snapshot_uri,
        "snapshot_sha256": getattr(champion, "snapshot_sha256", None),
        "trained_until": iso(champion.trained_until),
        "promoted_at": iso(champion.promoted_at),
    }


def champion_from_dict(data: dict[str, Any] | None) -> Any:
    if not data:
        return None
    from driftline.registry.champion import ChampionInfo, parse_time

    return ChampionInfo(
        name=data["name"],
        version=int(data["version"]),
        run_id=data.get("run_id", ""),
        metric_name=data.get("metric_name", ""),
        metric_value=data.get("metric_value"),
        snapshot_uri=data.get("snapshot_uri"),
        trained_until=parse_time(data.get("trained_until")),
        promoted_at=parse_time(data.get("promoted_at")),
        snapshot_sha256=data.get("snapshot_sha256"),
    )
