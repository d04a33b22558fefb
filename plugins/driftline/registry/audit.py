"""The audit trail of a registered model's aliases: who moved which alias, when, from what to what, why.

Storage: one registered-model tag per alias change, `driftline.audit.<seq, 8 digits>` holding a JSON
object, on the registered model itself. Why tags and not a dedicated audit run:
- the trail lives and dies with the model it describes, and any MLflow client (or the UI) reads it;
- it is written by the same writer, under the same registry lock (driftline.registry.lock), as the
  alias change, so the sequence number is gap-free and ordered by construction; a run would need a
  second store (experiment, run, its own lifecycle) that can drift from the registry;
- a promotion first writes its complete plan (aliases and the audit entries with their seq numbers)
  into `PENDING_TAG`; a writer that dies midway leaves that plan behind and the next writer replays
  it (driftline.registry.promotion.repair), so a half-finished change is detectable and completed.
Tag values may hold 100,000 characters; reasons are cut at `MAX_REASON` characters.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from driftline.exceptions import error_code
from driftline.registry.errors import RegistryInputError
from driftline.registry.retry import RetryPolicy, call

if TYPE_CHECKING:
    from driftline.mlflow_store import MlflowAccess
    from driftline.registry.lock import RegistryLock

AUDIT_PREFIX = "driftline.audit."
PENDING_TAG = "driftline.pending_change"
MAX_REASON = 4000


@dataclass(frozen=True)
class AuditEntry:
    """One alias change. `from_version`/`to_version` are None when the alias did not exist / was removed."""

    seq: int
    at: dt.datetime
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str
    action: str
    op_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    user: str = ""  # the Airflow user who triggered the run (dag_run.triggering_user_name); "" if none

    def to_json(self) -> str:
        data = asdict(self)
        data["at"] = self.at.astimezone(dt.UTC).isoformat()
        data["reason"] = self.reason[:MAX_REASON]
        return json.dumps(data, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> AuditEntry:
        data = json.loads(text)
        data["at"] = dt.datetime.fromisoformat(data["at"])
        for key in ("from_version", "to_version"):
            data[key] = int(data[key]) if data.get(key) is not None else None
        data["seq"] = int(data["seq"])
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def audit_tag(seq: int) -> str:
    """The registered-model tag key of entry `seq` (zero-padded so keys sort in order)."""
    return f"{AUDIT_PREFIX}{seq:08d}"


def entries_from_tags(tags: dict[str, str]) -> list[AuditEntry]:
    """The audit entries stored in a registered model's tags, in sequence order."""
    entries = [
        AuditEntry.from_json(value)
        for key, value in tags.items()
        if key.startswith(AUDIT_PREFIX) and key[len(AUDIT_PREFIX) :].isdigit()
    ]
    return sorted(entries, key=lambda e: e.seq)


def entries_of_op(tags: dict[str, str], op_id: str) -> list[AuditEntry]:
    """The audit entries one alias change (`op_id`) wrote, in sequence order (none if it never ran)."""
    return [e for e in entries_from_tags(tags) if op_id and e.op_id == op_id]


def next_seq(tags: dict[str, str]) -> int:
    """The next free sequence number (1 for an empty trail)."""
    seqs = [
        int(k[len(AUDIT_PREFIX) :])
        for k in tags
        if k.startswith(AUDIT_PREFIX) and k[len(AUDIT_PREFIX) :].isdigit()
    ]
    return max(seqs, default=0) + 1


def write_entries(
    hook: MlflowAccess,
    name: str,
    entries: list[AuditEntry],
    policy: RetryPolicy | None = None,
    lock: RegistryLock | None = None,
) -> None:
    """Store entries (idempotent: the same seq always gets the same value). Call under the registry lock."""
    for entry in entries:
        if lock is not None:
            lock.fence()
        call(
            policy,
            f"write audit entry {entry.seq} of {name!r}",
            hook.client.set_registered_model_tag,
            name,
            audit_tag(entry.seq),
            entry.to_json(),
        )


def _model_tags(hook: MlflowAccess, name: str, policy: RetryPolicy | None) -> dict[str, str]:
    try:
        model = call(policy, f"read registered model {name!r}", hook.client.get_registered_model, name)
    except Exception as exc:
        if error_code(exc) == "RESOURCE_DOES_NOT_EXIST":
            raise RegistryInputError(
                f"registered model {name!r} does not exist in the MLflow registry at {hook.tracking_uri}"
            ) from exc
        raise
    return dict(model.tags or {})


def history(hook: MlflowAccess, name: str, policy: RetryPolicy | None = None) -> list[AuditEntry]:
    """Every alias change of registered model `name`, oldest first."""
    return entries_from_tags(_model_tags(hook, name, policy))


def champion_from_entries(entries: list[AuditEntry], when: dt.datetime) -> int | None:
    """The version the `champion` alias pointed to at `when`, replaying `entries` in seq order."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    version: int | None = None
    for entry in entries:
        if entry.alias != "champion":
            continue
        if entry.at > when:
            break
        version = entry.to_version
    return version


def champion_at(
    hook: MlflowAccess, name: str, when: dt.datetime, policy: RetryPolicy | None = None
) -> int | None:
    """Which version was in production (the `champion` alias) at `when` (naive means UTC); None if none."""
    return champion_from_entries(history(hook, name, policy), when)


def _version(value: int | None) -> str:
    return "-" if value is None else f"v{value}"


def format_history(entries: list[AuditEntry]) -> str:
    """A readable table of the trail, one row per alias change."""
    if not entries:
        return "no alias changes recorded"
    header = ("seq", "when (UTC)", "alias", "change", "action", "actor", "reason")
    rows = [
        (
            str(e.seq),
            e.at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
            e.alias,
            f"{_version(e.from_version)} -> {_version(e.to_version)}",
            e.action,
            e.actor,
            " ".join(e.reason.split()),
        )
        for e in entries
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(header[-1]))
    return "\n".join(lines)
