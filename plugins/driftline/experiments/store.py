"""The durable state of a model's A/B experiments, kept in the MLflow registry (Airflow-free).

Storage: tags on the registered model itself, next to the alias audit trail
(driftline.registry.audit), written with a plain `MlflowClient`:

    driftline.ab.<id, 4 digits>                    one compact JSON record per experiment
    driftline.ab.<id, 4 digits>.d.<seq, 5 digits>  one JSON object per recorded decision
    driftline.ab.<id, 4 digits>.s.<data time>      what one batch inference served, per arm
                                                   (record_served: only served data times count)

Why registered-model tags rather than a dedicated MLflow experiment with a run per A/B test:
the state lives and dies with the model it is about, every MLflow client (and the UI's model
page) reads it with one `get_registered_model` call, and writes are serialised by the same
per-model registry lock as promotions (driftline.registry.lock), so "one experiment per model at
a time" and the experiment's status cannot race a promotion or a second writer. Decisions get a
tag each, so the record stays small (a tag value holds at most 100,000 characters) however long
an experiment runs. Reports and plots (h14a's evaluation DAG) belong in MLflow artifacts, not here.

Fencing: every write is made under the model's registry lock and is preceded by `lock.fence()`
(the lock's generation is re-checked on every write: still the newest, still ours) and by a
re-read of the experiment's stored record: a write to an experiment that has ended (promoted,
stopped, halted, replaced) is refused with `ExperimentEndedError`, whoever makes it and whatever
copy of the record it holds. An ended experiment therefore never comes back to life, not even
from a writer that read it while it was running and was delayed past a stop and a restart.

Idempotency: every write carries the Airflow run that made it (`op_key`, "<dag_id>/<run_id>").
`start_experiment` returns the experiment an earlier try of the same run started instead of a
second one; `record_decision` returns the decision an earlier try of the same run recorded
(a retry never re-decides); `finish_experiment` of an ended experiment returns it unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from driftline.exceptions import error_code
from driftline.experiments.errors import ExperimentInputError
from driftline.registry.retry import RetryPolicy, call

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from driftline.registry.lock import RegistryLock

log = logging.getLogger(__name__)

Status = Literal["running", "promoted", "stopped", "halted", "replaced"]
STATUSES: tuple[str, ...] = ("running", "promoted", "stopped", "halted", "replaced")
ENDED: tuple[str, ...] = ("promoted", "stopped", "halted", "replaced")
TAG_PREFIX = "driftline.ab."
_DECISION = ".d."
_SERVED = ".s."


class ExperimentStateError(ExperimentInputError):
    """An experiment state change that cannot be made (no such experiment, already ended otherwise,
    a second running experiment)."""


class ExperimentEndedError(ExperimentStateError):
    """A write to an experiment that has already ended: ended experiments are never written again."""


def _utc(value: dt.datetime | None = None) -> dt.datetime:
    value = value or dt.datetime.now(dt.UTC)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _time(text: str | None) -> dt.datetime | None:
    return _utc(dt.datetime.fromisoformat(text)) if text else None


@dataclass
class Experiment:
    """One A/B experiment of a model: challenger version against champion version on shares of entities.

    `shares` maps arm (`champion`, `challenger`, `no_model`) to its share; `decisions` are the
    recorded decisions, oldest first (each a dict with at least `seq`, `at`, `op_key`, `action`);
    `last_evaluation` is the newest evaluation (incl. "arms": {arm: {"n", "kpi_mean", "kpi_var"}}).
    `started_at` is the data time from which its arms are scored (the start of the data interval
    of the run that started it: outcomes since then belong to it); `ended_at` the wall-clock time
    it ended.
    """

    model: str
    champion_version: int
    challenger_version: int
    started_at: dt.datetime
    shares: dict[str, float]
    salt: str
    status: str
    decisions: list[dict[str, Any]] = field(default_factory=list)
    last_evaluation: dict[str, Any] = field(default_factory=dict)
    id: int = 0
    no_model_default: Any = None
    started_by: str = ""
    ended_at: dt.datetime | None = None
    ended_by: str = ""
    end_reason: str = ""
    waiting: list[dict[str, Any]] = field(default_factory=list)
    ended_data_time: dt.datetime | None = None
    served: list[dict[str, Any]] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.status == "running"

    def covers(self, data_time: dt.datetime) -> bool:
        """True when `data_time` lies inside the experiment's window of data times: from `started_at`
        (a data time) up to the data time it ended at (`ended_data_time`; for an experiment ended
        without one, its wall-clock end), open while it runs."""
        when = _utc(data_time)
        if when < self.started_at:
            return False
        if self.running:
            return True
        end = self.ended_data_time or self.ended_at
        return end is not None and when < end

    def arm_versions(self) -> dict[str, int | None]:
        """The model version behind each arm (None for `no_model`)."""
        return {"champion": self.champion_version, "challenger": self.challenger_version, "no_model": None}

    def describe(self) -> str:
        arms = ("champion", "challenger", "no_model")
        shares = ", ".join(f"{arm} {self.shares[arm]:.0%}" for arm in arms if self.shares.get(arm, 0) > 0)
        return (
            f"experiment #{self.id} of {self.model!r}: challenger v{self.challenger_version} vs champion "
            f"v{self.champion_version} ({shares}), {self.status} since {self.started_at:%Y-%m-%d %H:%M} UTC"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: datetimes as ISO text."""
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["ended_at"] = self.ended_at.isoformat() if self.ended_at else None
        data["ended_data_time"] = self.ended_data_time.isoformat() if self.ended_data_time else None
        return data

    def _record(self) -> str:
        data = self.to_dict()
        del data["decisions"]
        del data["served"]
        return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)

    @classmethod
    def _from_record(
        cls, text: str, decisions: list[dict[str, Any]], served: list[dict[str, Any]] | None = None
    ) -> Experiment:
        data = json.loads(text)
        known = {
            k: data[k] for k in cls.__dataclass_fields__ if k in data and k not in ("decisions", "served")
        }
        known["started_at"] = _time(data["started_at"])
        known["ended_at"] = _time(data.get("ended_at"))
        known["ended_data_time"] = _time(data.get("ended_data_time"))
        known["champion_version"] = int(data["champion_version"])
        known["challenger_version"] = int(data["challenger_version"])
        known["id"] = int(data["id"])
        return cls(**known, decisions=decisions, served=served or [])


def record_tag(experiment_id: int) -> str:
    return f"{TAG_PREFIX}{experiment_id:04d}"


def decision_tag(experiment_id: int, seq: int) -> str:
    return f"{record_tag(experiment_id)}{_DECISION}{seq:05d}"


def served_tag(experiment_id: int, data_start: dt.datetime) -> str:
    return f"{record_tag(experiment_id)}{_SERVED}{_utc(data_start).strftime('%Y%m%dT%H%M%SZ')}"


def experiments_from_tags(tags: Mapping[str, str]) -> list[Experiment]:
    """The experiments stored in a registered model's tags, oldest first (pure)."""
    records: dict[int, str] = {}
    decisions: dict[int, list[dict[str, Any]]] = {}
    served: dict[int, list[dict[str, Any]]] = {}
    for key, value in tags.items():
        if not key.startswith(TAG_PREFIX):
            continue
        rest = key[len(TAG_PREFIX) :]
        owner, marker, _ = rest.partition(_SERVED)
        if marker and owner.isdigit():
            served.setdefault(int(owner), []).append(json.loads(value))
            continue
        head, _, seq = rest.partition(_DECISION)
        if not head.isdigit():
            continue
        if not seq:
            records[int(head)] = value
        elif seq.isdigit():
            decisions.setdefault(int(head), []).append(json.loads(value))
    out = []
    for exp_id in sorted(records):
        made = sorted(decisions.get(exp_id, []), key=lambda d: int(d.get("seq", 0)))
        windows = sorted(served.get(exp_id, []), key=lambda r: str(r.get("data_start")))
        out.append(Experiment._from_record(records[exp_id], made, windows))
    return out


def _tags(client: MlflowClient, model_name: str, policy: RetryPolicy | None) -> dict[str, str]:
    try:
        model = call(policy, f"read registered model {model_name!r}", client.get_registered_model, model_name)
    except Exception as exc:
        if error_code(exc) == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise
    return dict(model.tags or {})


def list_experiments(
    client: MlflowClient, model_name: str, policy: RetryPolicy | None = None
) -> list[Experiment]:
    """Every A/B experiment of registered model `model_name`, oldest first (none for an unknown model)."""
    return experiments_from_tags(_tags(client, model_name, policy))


def current_experiment(
    client: MlflowClient, model_name: str, policy: RetryPolicy | None = None
) -> Experiment | None:
    """The running experiment of `model_name`, or None."""
    running = [e for e in list_experiments(client, model_name, policy) if e.running]
    return running[-1] if running else None


def get_experiment(
    client: MlflowClient, model_name: str, experiment_id: int, policy: RetryPolicy | None = None
) -> Experiment:
    """Experiment `experiment_id` of `model_name`; ExperimentStateError when there is none."""
    return _one(client, model_name, experiment_id, policy)


# --- writes (under the model's registry lock) ------------------------------------------------


class _Access:
    """The MlflowAccess shape the registry lock needs, around a plain client."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client
        self.tracking_uri = str(getattr(client, "tracking_uri", "") or "")


def _lock(client: MlflowClient, model_name: str, holder: str, options: Mapping[str, Any]) -> RegistryLock:
    from driftline.registry.lock import RegistryLock

    return RegistryLock(
        _Access(client),
        model_name,
        holder=holder or "driftline experiments",
        ttl=float(options.get("lock_ttl", 120.0)),
        wait=float(options.get("lock_wait", 60.0)),
        policy=options.get("policy"),
    )


def _write(
    client: MlflowClient,
    model_name: str,
    experiment_id: int,
    key: str,
    value: str,
    lock: RegistryLock,
    policy: RetryPolicy | None,
) -> None:
    """One fenced write concerning experiment `experiment_id`: the lock's generation is checked, then
    the stored record is re-read and must not have ended (a new experiment has no record yet)."""
    lock.fence()
    stored = [e for e in experiments_from_tags(_tags(client, model_name, policy)) if e.id == experiment_id]
    if stored and not stored[0].running:
        raise ExperimentEndedError(
            f"{stored[0].describe()} has ended ({stored[0].end_reason or stored[0].status}): "
            f"nothing more is written to it ({key} refused)"
        )
    call(policy, f"write {key} of {model_name!r}", client.set_registered_model_tag, model_name, key, value)


def start_experiment(
    client: MlflowClient,
    model_name: str,
    *,
    champion_version: int,
    challenger_version: int,
    shares: Mapping[str, float],
    salt: str,
    op_key: str,
    no_model_default: Any = None,
    started_at: dt.datetime | None = None,
    replace_running: str | None = None,
    policy: RetryPolicy | None = None,
    **lock_options: Any,
) -> Experiment:
    """Record a new running experiment; returns it (or the one an earlier try of `op_key` started).

    At most one experiment per model runs: with another one running this raises
    ExperimentStateError, unless `replace_running` (the reason) is given, in which case that one
    ends as `replaced` first, in the same locked step.
    """
    if not op_key:
        raise ExperimentInputError("start_experiment needs the Airflow run (op_key) as its idempotency key")
    unknown = sorted(set(shares) - {"champion", "challenger", "no_model"})
    if unknown:
        raise ExperimentInputError(
            f"shares name unknown arms {unknown}: arms are champion, challenger, no_model"
        )
    with _lock(client, model_name, op_key, {"policy": policy, **lock_options}) as lock:
        existing = experiments_from_tags(_tags(client, model_name, policy))
        mine = [e for e in existing if e.started_by == op_key]
        if mine:
            log.info("run %s already started %s", op_key, mine[-1].describe())
            return mine[-1]
        running = [e for e in existing if e.running]
        now = _utc(started_at)
        for other in running:
            if replace_running is None:
                raise ExperimentStateError(
                    f"model {model_name!r} already runs {other.describe()}: one experiment per model at a time"
                )
            other.status, other.ended_at, other.ended_by = "replaced", _utc(), op_key
            other.end_reason = replace_running
            _write(client, model_name, other.id, record_tag(other.id), other._record(), lock, policy)
        experiment = Experiment(
            model=model_name,
            champion_version=int(champion_version),
            challenger_version=int(challenger_version),
            started_at=now,
            shares={arm: float(share) for arm, share in shares.items()},
            salt=salt,
            status="running",
            id=max((e.id for e in existing), default=0) + 1,
            no_model_default=no_model_default,
            started_by=op_key,
        )
        _write(
            client, model_name, experiment.id, record_tag(experiment.id), experiment._record(), lock, policy
        )
    log.info("started %s", experiment.describe())
    return experiment


def record_decision(
    client: MlflowClient,
    model_name: str,
    experiment_id: int,
    decision: Mapping[str, Any],
    *,
    op_key: str,
    evaluation: Mapping[str, Any] | None = None,
    policy: RetryPolicy | None = None,
    **lock_options: Any,
) -> dict[str, Any]:
    """Append a decision (e.g. {"action": "continue"|"promote"|"stop"|"halt", "reason": ..., ...}) to an
    experiment and store `evaluation` as its `last_evaluation`. Returns the stored decision: the one
    an earlier try of `op_key` recorded, if any (record first, then act; a retry acts on this).
    """
    if not op_key:
        raise ExperimentInputError("record_decision needs the Airflow run (op_key) as its idempotency key")
    with _lock(client, model_name, op_key, {"policy": policy, **lock_options}) as lock:
        experiment = _one(client, model_name, experiment_id, policy)
        earlier = [d for d in experiment.decisions if d.get("op_key") == op_key]
        if earlier:
            return earlier[-1]
        if not experiment.running:
            raise ExperimentEndedError(
                f"{experiment.describe()} has ended ({experiment.end_reason or experiment.status}): "
                f"run {op_key} cannot record a decision on it"
            )
        seq = max((int(d.get("seq", 0)) for d in experiment.decisions), default=0) + 1
        stored = {**dict(decision), "seq": seq, "op_key": op_key, "at": _utc().isoformat()}
        _write(
            client,
            model_name,
            experiment_id,
            decision_tag(experiment_id, seq),
            json.dumps(stored, sort_keys=True, separators=(",", ":"), default=str),
            lock,
            policy,
        )
        if evaluation is not None:
            experiment.last_evaluation = dict(evaluation)
            _write(
                client,
                model_name,
                experiment_id,
                record_tag(experiment_id),
                experiment._record(),
                lock,
                policy,
            )
    return stored


def finish_experiment(
    client: MlflowClient,
    model_name: str,
    experiment_id: int,
    status: str,
    reason: str,
    *,
    op_key: str,
    data_end: dt.datetime | None = None,
    policy: RetryPolicy | None = None,
    **lock_options: Any,
) -> Experiment:
    """End a running experiment as `status` (promoted, stopped, halted or replaced) with `reason`;
    `data_end` is the data time it ends at (the end of the deciding run's data interval): data times
    from there on are outside it (default: the wall-clock end).

    An experiment that already ended is returned unchanged when it ended with the same status
    (a retry), else ExperimentStateError.
    """
    if status not in ENDED:
        raise ExperimentInputError(f"an experiment ends as one of {list(ENDED)}, not {status!r}")
    with _lock(client, model_name, op_key, {"policy": policy, **lock_options}) as lock:
        experiment = _one(client, model_name, experiment_id, policy)
        if not experiment.running:
            if experiment.status == status:
                return experiment
            raise ExperimentStateError(
                f"{experiment.describe()}: it already ended ({experiment.end_reason}); cannot end it as {status!r}"
            )
        experiment.status, experiment.ended_at, experiment.ended_by = status, _utc(), op_key
        experiment.end_reason = reason
        experiment.ended_data_time = _utc(data_end) if data_end is not None else None
        _write(
            client, model_name, experiment_id, record_tag(experiment_id), experiment._record(), lock, policy
        )
    log.info("ended %s: %s", experiment.describe(), reason)
    return experiment


def add_waiting(
    client: MlflowClient,
    model_name: str,
    experiment_id: int,
    version: int,
    *,
    op_key: str,
    reason: str,
    policy: RetryPolicy | None = None,
    **lock_options: Any,
) -> Experiment:
    """Note on a running experiment that challenger `version` waits for it to end (idempotent per version)."""
    with _lock(client, model_name, op_key, {"policy": policy, **lock_options}) as lock:
        experiment = _one(client, model_name, experiment_id, policy)
        if any(int(w["version"]) == int(version) for w in experiment.waiting):
            return experiment
        if not experiment.running:
            raise ExperimentEndedError(
                f"{experiment.describe()} has ended: challenger v{version} cannot wait for it"
            )
        experiment.waiting.append(
            {"version": int(version), "at": _utc().isoformat(), "op_key": op_key, "reason": reason}
        )
        _write(
            client, model_name, experiment_id, record_tag(experiment_id), experiment._record(), lock, policy
        )
    return experiment


def _one(client: MlflowClient, model_name: str, experiment_id: int, policy: RetryPolicy | None) -> Experiment:
    for experiment in experiments_from_tags(_tags(client, model_name, policy)):
        if experiment.id == experiment_id:
            return experiment
    raise ExperimentStateError(f"model {model_name!r} has no A/B experiment #{experiment_id}")


def record_served(
    client: MlflowClient,
    model_name: str,
    experiment_id: int,
    *,
    data_start: dt.datetime,
    data_end: dt.datetime,
    arms: Mapping[str, int],
    op_key: str,
    policy: RetryPolicy | None = None,
    **lock_options: Any,
) -> dict[str, Any]:
    """Record what a batch inference served for experiment `experiment_id`: the items scored per arm
    for the data window [data_start, data_end). Call after the run's last item is written: only data
    windows recorded here count in the evaluation (an entity is in an arm when it was served in it) and
    in the sample-ratio check of outcomes against what was served. A rerun of the same data window
    replaces its record; a window outside the experiment's data times, or an ended experiment, is refused.
    """
    if not op_key:
        raise ExperimentInputError("record_served needs the Airflow run (op_key) as its idempotency key")
    unknown = sorted(set(arms) - {"champion", "challenger", "no_model"})
    if unknown:
        raise ExperimentInputError(f"served arms {unknown} unknown: arms are champion, challenger, no_model")
    with _lock(client, model_name, op_key, {"policy": policy, **lock_options}) as lock:
        experiment = _one(client, model_name, experiment_id, policy)
        if not experiment.covers(data_start):
            raise ExperimentInputError(
                f"data time {_utc(data_start).isoformat()} is outside {experiment.describe()}: "
                "its items are not part of the experiment"
            )
        record = {
            "data_start": _utc(data_start).isoformat(),
            "data_end": _utc(data_end).isoformat(),
            "arms": {arm: int(count) for arm, count in arms.items()},
            "op_key": op_key,
            "at": _utc().isoformat(),
        }
        _write(
            client,
            model_name,
            experiment_id,
            served_tag(experiment_id, data_start),
            json.dumps(record, sort_keys=True, separators=(",", ":")),
            lock,
            policy,
        )
    return record


def experiment_for_data_time(
    client: MlflowClient, model_name: str, data_time: dt.datetime, policy: RetryPolicy | None = None
) -> Experiment | None:
    """The running experiment whose arms score data time `data_time`, or None (champion only).

    Membership is by data time, not by wall clock: a backfill of March while December's experiment
    runs gets None (March is before that experiment started). An ended experiment takes no more data
    (its served records are closed), so a rerun of a day inside it gets None as well. The inference
    step chooses its arm plan with this; it writes nothing.
    """
    inside = [e for e in list_experiments(client, model_name, policy) if e.running and e.covers(data_time)]
    return inside[-1] if inside else None
