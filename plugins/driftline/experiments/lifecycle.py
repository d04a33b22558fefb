"""An A/B experiment's life: started by the gate, scored by every batch inference, ended by a decision.

- `start_for_challenger` (the gate, when `ab_test.enabled` and a champion exists): a challenger
  that passed the gate starts an experiment instead of being promoted. With an experiment
  already running, `ab_test.on_new_challenger` decides: `wait` notes the newer challenger on the
  running experiment (it starts when that one has ended, see below); `replace` ends the running
  one as `replaced` and starts the newer one, in one locked step.
- `experiment_for_inference` (every batch inference): the running experiment whose arms this
  run scores. A challenger version that disappeared from the registry stops the experiment
  (status `stopped`, a message naming the version) and nothing is promoted; with no experiment
  running, the newest challenger that waited for the last one starts its experiment now,
  against the current champion.
- `ensure_challenger` is the same disappearance check for any other caller (the evaluation DAG
  calls it before it promotes).
Every write is keyed by the Airflow run (`op_key`) in driftline.experiments.store, so a retried
task never starts a second experiment or notes a challenger twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from driftline.exceptions import error_code
from driftline.experiments.errors import ExperimentInputError
from driftline.experiments.store import (
    Experiment,
    ExperimentEndedError,
    add_waiting,
    current_experiment,
    finish_experiment,
    list_experiments,
    start_experiment,
)
from driftline.registry.retry import RetryPolicy, call

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from driftline.config.models import AbTestSection, ModelConfig

log = logging.getLogger(__name__)
Outcome = Literal["started", "waiting", "replaced"]


@dataclass(frozen=True)
class GateExperiment:
    """What the gate did instead of promoting."""

    outcome: Outcome
    experiment: Experiment
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "reason": self.reason, "experiment": self.experiment.to_dict()}


@dataclass
class InferenceExperiment:
    """The experiment a batch inference scores (None: champion only) and what happened on the way."""

    experiment: Experiment | None
    notes: list[str] = field(default_factory=list)
    stopped: Experiment | None = None


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def ab_section(config: ModelConfig) -> AbTestSection | None:
    """The config's ab_test section when A/B tests are enabled, else None."""
    ab = config.ab_test
    return ab if ab is not None and ab.enabled else None


def _start(
    client: MlflowClient,
    config: ModelConfig,
    ab: AbTestSection,
    champion_version: int,
    challenger_version: int,
    op_key: str,
    replace_running: str | None,
    options: dict[str, Any],
    started_at: dt.datetime | None,
) -> Experiment:
    name = config.registered_model_name
    return start_experiment(
        client,
        name,
        champion_version=champion_version,
        challenger_version=challenger_version,
        shares=ab.shares,
        salt=ab.salt_for(name, challenger_version),
        op_key=op_key,
        no_model_default=ab.no_model_default,
        replace_running=replace_running,
        started_at=started_at,
        **options,
    )


def start_for_challenger(
    client: MlflowClient,
    config: ModelConfig,
    *,
    champion_version: int,
    challenger_version: int,
    op_key: str,
    started_at: dt.datetime | None = None,
    policy: RetryPolicy | None = None,
    **lock_options: Any,
) -> GateExperiment:
    """A challenger passed the gate: start its experiment, or wait / replace per `on_new_challenger`.

    `started_at`: the data time from which the experiment's arms are scored (the start of the
    gate run's data interval, whose window the same run scores next), so evaluations of the
    outcomes since the start line up with the data, in backfills too; default now."""
    ab = ab_section(config)
    if ab is None:
        raise ExperimentInputError(f"model {config.model.name!r}: ab_test is not enabled")
    name = config.registered_model_name
    options: dict[str, Any] = {"policy": policy, **lock_options}
    running = current_experiment(client, name, policy)
    if running is not None and running.started_by == op_key:  # a retry of the run that started it
        return GateExperiment("started", running, f"started {running.describe()}")
    if running is None:
        exp = _start(
            client, config, ab, champion_version, challenger_version, op_key, None, options, started_at
        )
        return GateExperiment("started", exp, f"instead of promoting: started {exp.describe()}")
    if ab.on_new_challenger == "wait":
        why = (
            f"{running.describe()} is still running; ab_test.on_new_challenger is 'wait': challenger "
            f"v{challenger_version} starts its experiment once that one has ended"
        )
        try:
            noted = add_waiting(
                client, name, running.id, challenger_version, op_key=op_key, reason=why, **options
            )
        except ExperimentEndedError:  # it ended between the read and the write: start this one now
            exp = _start(
                client, config, ab, champion_version, challenger_version, op_key, None, options, started_at
            )
            return GateExperiment("started", exp, f"instead of promoting: started {exp.describe()}")
        return GateExperiment("waiting", noted, why)
    why = (
        f"replaced by challenger v{challenger_version} (ab_test.on_new_challenger is 'replace', run {op_key})"
    )
    exp = _start(client, config, ab, champion_version, challenger_version, op_key, why, options, started_at)
    return GateExperiment(
        "replaced",
        exp,
        f"experiment #{running.id} (v{running.challenger_version}) {why}; started {exp.describe()}",
    )


def version_exists(client: MlflowClient, name: str, version: int, policy: RetryPolicy | None = None) -> bool:
    """True when version `version` of registered model `name` exists."""
    try:
        call(policy, f"read version {version} of {name!r}", client.get_model_version, name, str(version))
    except Exception as exc:
        if error_code(exc) == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise
    return True


def ensure_challenger(
    client: MlflowClient,
    experiment: Experiment,
    *,
    op_key: str,
    data_end: dt.datetime | None = None,
    policy: RetryPolicy | None = None,
    **lock_options: Any,
) -> Experiment:
    """The experiment as it is when its challenger version still exists; else it is stopped (and
    returned with status `stopped` and the reason): nothing of a vanished challenger is promoted."""
    if version_exists(client, experiment.model, experiment.challenger_version, policy):
        return experiment
    reason = (
        f"challenger version {experiment.challenger_version} of {experiment.model!r} disappeared from the "
        f"registry mid-test: experiment #{experiment.id} stopped, nothing promoted"
    )
    log.error(reason)
    return finish_experiment(
        client,
        experiment.model,
        experiment.id,
        "stopped",
        reason,
        op_key=op_key,
        data_end=data_end,
        policy=policy,
        **lock_options,
    )


def experiment_for_inference(
    client: MlflowClient,
    config: ModelConfig,
    *,
    champion_version: int,
    op_key: str,
    started_at: dt.datetime | None = None,
    policy: RetryPolicy | None = None,
    **lock_options: Any,
) -> InferenceExperiment:
    """The experiment this batch inference scores (see the module docs); `started_at` (the run's
    data interval start) dates an experiment this run starts for a waiting challenger."""
    ab = ab_section(config)
    if ab is None:
        return InferenceExperiment(None)
    name = config.registered_model_name
    options: dict[str, Any] = {"policy": policy, **lock_options}
    running = current_experiment(client, name, policy)
    if running is not None and started_at is not None and not running.covers(started_at):
        note = (
            f"data time {started_at.isoformat()} is before {running.describe()}: a backfill is scored by "
            "the champion alone and is not part of the experiment"
        )
        log.info(note)
        return InferenceExperiment(None, [note])
    if running is not None:
        checked = ensure_challenger(client, running, op_key=op_key, data_end=started_at, **options)
        if not checked.running:
            return InferenceExperiment(None, [checked.end_reason], stopped=checked)
        notes = []
        if running.champion_version != champion_version:
            notes.append(
                f"the champion is v{champion_version} now, not v{running.champion_version} as when "
                f"experiment #{running.id} started: its champion arm is scored by v{champion_version}"
            )
        return InferenceExperiment(running, notes)
    history = list_experiments(client, name, policy)
    if not history or not history[-1].waiting:
        return InferenceExperiment(None)
    last_end = history[-1].ended_data_time  # known when the deciding run recorded its data time
    if started_at is not None and last_end is not None and _as_utc(started_at) < last_end:
        return InferenceExperiment(None)  # a backfill never starts the waiting challenger's experiment
    tried = {e.challenger_version for e in history}
    for waiting in sorted(history[-1].waiting, key=lambda w: int(w["version"]), reverse=True):
        version = int(waiting["version"])
        if (
            version in tried
            or version == champion_version
            or not version_exists(client, name, version, policy)
        ):
            continue
        exp = _start(client, config, ab, champion_version, version, op_key, None, options, started_at)
        note = f"challenger v{version} waited for experiment #{history[-1].id}: started {exp.describe()}"
        log.info(note)
        return InferenceExperiment(exp, [note])
    return InferenceExperiment(None)
