"""Safe alias moves: promotion of a version to champion, and rollback, through one guarded path.

Every move runs under the model's registry lock (driftline.registry.lock) and is a compare-and-set:
the caller says which champion it saw (`expected_champion`); if the registry now says otherwise the
move is refused with RegistryConflictError (retryable: the task re-reads and decides again), unless
the caller asked for `unconditional=True`.

Crash safety: under the lock the complete change (alias targets, version tags, audit entries with
their sequence numbers) is first written as one plan into the registered-model tag
`driftline.pending_change`; then version tags, then `previous-champion`/`challenger`, then
`champion` last, then the audit entries, then the plan is deleted. Every step is idempotent. A
writer that dies (or loses the registry) midway leaves the plan behind; the next writer under the
lock replays it (`repair`) before it reads anything, so a half-moved state is detectable (the tag
exists) and is completed rather than left inconsistent.

Decided once per Airflow run: a move made on behalf of a run carries an `op_id` derived from it
(`op_key`), and its audit entries record that id. A retry that finds entries of its op_id reports
that change instead of deciding again. A rollback also records its decision (target and the
champion it replaces) in the registered-model tag `driftline.rollback.<hash of the run>` before it
moves anything, so a retry finishes that decision and never re-reads `previous-champion` (which,
after the first try moved the aliases, names the model being rolled back from).

One promotion policy (`PromotionRules`, `authorize`) for every move of `champion` made on behalf of
a model's config: the gate, an A/B decision, an approved promotion and a rollback. Checked under
the lock against a fresh read of the audit trail and the version's gate tag:
- promotion (gate, A/B, approved): the version passed the gate (its `driftline.gate.decision` tag is
  promoted / awaiting_approval / ab_test) or held `champion` before; with
  `registry.approval.required` it also needs an approval by one of `registry.approval.respondents`;
- rollback: the target held `champion` before (per the audit trail) or passed the gate; anything
  else only with an approval where `registry.approval.required` is set, and is refused otherwise
  (PromotionRefusedError names the model, the version and why).
The entry records which rule allowed the move (`details.policy`), the approver, and the Airflow user
who triggered the run (`AuditEntry.user`, from `dag_run.triggering_user_name`).

A newer data time wins, as it does for predictions: a promotion made for a run's data time
(`details.data_time`) is refused with StalePromotionError when a champion change recorded for a
newer data time exists (`newer_promotion`): a backfill, or a day whose gate ran after a later
day's, never replaces a champion promoted from newer data. Rollbacks (a person's decision, with no
data time) are not refused by this rule and do not count as newer data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from driftline.exceptions import error_code
from driftline.registry.audit import PENDING_TAG, AuditEntry, entries_of_op, next_seq, write_entries
from driftline.registry.champion import (
    CHALLENGER,
    CHAMPION,
    DATA_TIME_DETAIL,
    PREVIOUS_CHAMPION,
    TAG_PROMOTED_AT,
    aliases_of,
    parse_time,
    read_model,
)
from driftline.registry.errors import (
    PromotionRefusedError,
    RegistryConflictError,
    RegistryInputError,
    StalePromotionError,
)
from driftline.registry.lock import RegistryLock
from driftline.registry.retry import RetryPolicy, call

if TYPE_CHECKING:
    from driftline.mlflow_store import MlflowAccess

log = logging.getLogger(__name__)

# Aliases are written in this order; champion always last.
_WRITE_ORDER = (PREVIOUS_CHAMPION, CHALLENGER, CHAMPION)
ROLLBACK_TAG_PREFIX = "driftline.rollback."
GATE_DECISION_TAG = "driftline.gate.decision"
PASSED_GATE = frozenset({"promoted", "awaiting_approval", "ab_test"})


@dataclass(frozen=True)
class PromotionRules:
    """The promotion policy of one model (its config's registry.approval)."""

    approval_required: bool = False
    respondents: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: Any) -> PromotionRules:
        approval = config.registry.approval
        return cls(bool(approval.required), tuple(approval.respondents))


@dataclass(frozen=True)
class Standing:
    """What the registry says about a version: did it hold `champion`, what did the gate decide."""

    former_champion: bool
    gate_decision: str | None

    @property
    def passed_gate(self) -> bool:
        return self.gate_decision in PASSED_GATE


def standing_of(
    hook: MlflowAccess, name: str, version: int, model_tags: dict[str, str], policy: RetryPolicy | None
) -> Standing:
    """The version's standing from the model's audit trail and the version's gate tag (a fresh read)."""
    from driftline.registry.audit import entries_from_tags

    entries = entries_from_tags(model_tags)
    former = any(e.alias == CHAMPION and e.to_version == version for e in entries)
    mv = require_version(hook, name, version, policy)
    return Standing(former, dict(mv.tags or {}).get(GATE_DECISION_TAG) or None)


def approver_of(approval: dict[str, Any] | None) -> str | None:
    """Who approved, from approval details ({"approved_by", "chosen"}), or None when not approved."""
    if not approval:
        return None
    chosen = approval.get("chosen")
    if chosen is not None and list(chosen) != ["Approve"]:
        return None
    by = approval.get("approved_by")
    return str(by) if by else None


def authorize(
    name: str,
    version: int,
    action: str,
    standing: Standing,
    rules: PromotionRules,
    approval: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The policy's verdict on moving `champion` of `name` to `version` (see the module docstring):
    audit details naming the rule that allows it, or PromotionRefusedError saying why not. Pure."""
    approved_by = approver_of(approval)
    if approved_by and rules.respondents and approved_by not in rules.respondents:
        raise PromotionRefusedError(
            f"{action} of {name!r} to version {version} refused: approved by {approved_by!r}, who is not "
            f"in registry.approval.respondents {list(rules.respondents)}"
        )
    if standing.former_champion:
        eligible = "held champion before (audit trail)"
    elif standing.passed_gate:
        eligible = f"passed the gate ({standing.gate_decision})"
    else:
        eligible = ""
    gate = (
        f"the gate decided {standing.gate_decision!r}"
        if standing.gate_decision
        else "the gate never passed it"
    )
    if action == "rollback":
        if eligible:
            return {"policy": eligible, **({"approved_by": approved_by} if approved_by else {})}
        if rules.approval_required and approved_by:
            return {
                "policy": f"approved by {approved_by} (never champion; {gate})",
                "approved_by": approved_by,
            }
        how = (
            "it needs an approval by one of registry.approval.respondents (the rollback DAG asks for it)"
            if rules.approval_required
            else "only a former champion or a version that passed the gate can be restored "
            "(set registry.approval to allow approved exceptions)"
        )
        raise PromotionRefusedError(
            f"rollback of {name!r} to version {version} refused: version {version} never held 'champion' "
            f"and {gate}; {how}"
        )
    if not eligible:
        raise PromotionRefusedError(
            f"{action} of {name!r} to version {version} refused: {gate} and it never held 'champion'"
        )
    if rules.approval_required and not approved_by:
        raise PromotionRefusedError(
            f"{action} of {name!r} to version {version} refused: registry.approval.required is set and "
            "nobody approved it"
        )
    return {"policy": eligible, **({"approved_by": approved_by} if approved_by else {})}


def newer_promotion(entries: list[AuditEntry], data_time: dt.datetime) -> AuditEntry | None:
    """The latest `champion` change recorded for a data time newer than `data_time`, if any (pure)."""
    newest: tuple[dt.datetime, AuditEntry] | None = None
    for entry in entries:
        if entry.alias != CHAMPION or entry.to_version is None:
            continue
        recorded = parse_time(str((entry.details or {}).get(DATA_TIME_DETAIL) or ""))
        if recorded is not None and recorded > data_time and (newest is None or recorded > newest[0]):
            newest = (recorded, entry)
    return newest[1] if newest else None


def refuse_stale(
    name: str, version: int, action: str, model_tags: dict[str, str], details: dict[str, Any]
) -> None:
    """StalePromotionError when `details.data_time` is older than a recorded champion promotion."""
    from driftline.registry.audit import entries_from_tags

    mine = parse_time(str(details.get(DATA_TIME_DETAIL) or ""))
    if mine is None or action == "rollback":
        return
    newer = newer_promotion(entries_from_tags(model_tags), mine)
    if newer is not None:
        raise StalePromotionError(
            f"{action} of {name!r} to version {version} (data up to {mine.isoformat()}) refused: champion "
            f"v{newer.to_version} was promoted from newer data (up to {newer.details[DATA_TIME_DETAIL]}, "
            f"audit entry {newer.seq}); a run for older data never replaces it"
        )


def op_id_for(action: str, op_key: str | None) -> str:
    """The op_id of a change made on behalf of `op_key` (e.g. "dag_id/run_id"); random without one."""
    return f"{action}:{op_key}" if op_key else uuid.uuid4().hex


def rollback_tag(op_key: str) -> str:
    """The registered-model tag that records the rollback decision of one Airflow run."""
    return ROLLBACK_TAG_PREFIX + hashlib.sha256(op_key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PromotionResult:
    """What a promotion or rollback did. `changed` is False when `version` already was champion."""

    name: str
    version: int
    previous: int | None
    changed: bool
    entries: list[AuditEntry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "previous": self.previous,
            "changed": self.changed,
            "audit_seq": [e.seq for e in self.entries],
        }


def open_lock(
    hook: MlflowAccess,
    name: str,
    actor: str,
    policy: RetryPolicy | None = None,
    lock_ttl: float = 120.0,
    lock_wait: float = 60.0,
) -> RegistryLock:
    """The registry lock of model `name` (not yet acquired)."""
    return RegistryLock(hook, name, holder=actor, ttl=lock_ttl, wait=lock_wait, policy=policy)


def require_model(hook: MlflowAccess, name: str, policy: RetryPolicy | None = None) -> Any:
    """The RegisteredModel `name`; RegistryInputError when it does not exist."""
    model = read_model(hook, name, policy)
    if model is None:
        raise RegistryInputError(
            f"registered model {name!r} does not exist in the MLflow registry at {hook.tracking_uri}"
        )
    return model


def require_version(hook: MlflowAccess, name: str, version: int, policy: RetryPolicy | None = None) -> Any:
    """ModelVersion `version` of `name`; RegistryInputError when it does not exist."""
    try:
        return call(
            policy, f"read version {version} of {name!r}", hook.client.get_model_version, name, str(version)
        )
    except Exception as exc:
        if error_code(exc) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise RegistryInputError(f"registered model {name!r} has no version {version}") from exc
        raise


def _apply(
    hook: MlflowAccess, name: str, plan: dict[str, Any], policy: RetryPolicy | None, lock: RegistryLock
) -> None:
    """Carry out a plan; every step is idempotent, so a replay after a crash is safe; each write is fenced."""
    client = hook.client
    for version, tags in plan.get("version_tags", {}).items():
        for key, value in tags.items():
            lock.fence()
            call(
                policy,
                f"tag version {version} of {name!r}",
                client.set_model_version_tag,
                name,
                str(version),
                key,
                value,
            )
    aliases: dict[str, int | None] = plan["aliases"]
    for alias in _WRITE_ORDER:
        if alias not in aliases:
            continue
        target = aliases[alias]
        lock.fence()
        if target is None:
            try:
                call(
                    policy,
                    f"delete alias {alias} of {name!r}",
                    client.delete_registered_model_alias,
                    name,
                    alias,
                )
            except Exception as exc:
                if error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
                    raise
        else:
            call(
                policy,
                f"set alias {alias} of {name!r}",
                client.set_registered_model_alias,
                name,
                alias,
                str(target),
            )
    write_entries(hook, name, [AuditEntry.from_json(text) for text in plan["entries"]], policy, lock)
    lock.fence()
    try:
        call(
            policy, f"clear pending change of {name!r}", client.delete_registered_model_tag, name, PENDING_TAG
        )
    except Exception as exc:
        if error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
            raise


def repair_locked(
    hook: MlflowAccess, name: str, model: Any, lock: RegistryLock, policy: RetryPolicy | None = None
) -> bool:
    """Replay a change a crashed writer left half-done. Call with the lock held; True if one was found."""
    pending = dict(model.tags or {}).get(PENDING_TAG)
    if not pending:
        return False
    log.warning("completing a half-finished alias change of %s left by a previous writer", name)
    _apply(hook, name, json.loads(pending), policy, lock)
    return True


def repair(
    hook: MlflowAccess, name: str, actor: str = "driftline repair", policy: RetryPolicy | None = None
) -> bool:
    """Take the lock and complete a half-finished alias change of `name`, if any."""
    with open_lock(hook, name, actor, policy) as lock:
        return repair_locked(hook, name, require_model(hook, name, policy), lock, policy)


def commit_aliases(
    hook: MlflowAccess,
    name: str,
    lock: RegistryLock,
    new_aliases: dict[str, int | None],
    *,
    actor: str,
    reason: str,
    action: str,
    details: dict[str, Any] | None = None,
    version_tags: dict[int, dict[str, str]] | None = None,
    policy: RetryPolicy | None = None,
    op_id: str | None = None,
    user: str | None = None,
) -> list[AuditEntry]:
    """Move aliases to `new_aliases` ({alias: version or None to remove}) with audit entries.

    The caller holds `lock` and has already checked its preconditions against a fresh read.
    Returns the audit entries written (none when nothing changed).
    """
    model = require_model(hook, name, policy)
    current = aliases_of(model)
    changes = {a: v for a, v in new_aliases.items() if current.get(a) != v}
    if not changes:
        return []
    tags = dict(model.tags or {})
    seq = next_seq(tags)
    now = dt.datetime.now(dt.UTC)
    op_id = op_id or uuid.uuid4().hex
    entries = []
    for alias in _WRITE_ORDER:
        if alias in changes:
            entries.append(
                AuditEntry(
                    seq=seq,
                    at=now,
                    alias=alias,
                    from_version=current.get(alias),
                    to_version=changes[alias],
                    actor=actor,
                    reason=reason,
                    action=action,
                    op_id=op_id,
                    details=dict(details or {}),
                    user=user or "",
                )
            )
            seq += 1
    plan = {
        "op_id": op_id,
        "aliases": changes,
        "version_tags": {str(v): t for v, t in (version_tags or {}).items()},
        "entries": [e.to_json() for e in entries],
    }
    lock.verify()
    call(
        policy,
        f"record pending change of {name!r}",
        hook.client.set_registered_model_tag,
        name,
        PENDING_TAG,
        json.dumps(plan),
    )
    _apply(hook, name, plan, policy, lock)
    return entries


def _done(name: str, version: int, tags: dict[str, str], op_id: str | None) -> PromotionResult | None:
    """The result of change `op_id` when an earlier try already made it (its audit entries exist)."""
    if not op_id:
        return None
    entries = entries_of_op(tags, op_id)
    champ = [e for e in entries if e.alias == CHAMPION and e.to_version == version]
    if not champ:
        return None
    return PromotionResult(name, version, champ[0].from_version, changed=True, entries=entries)


def _promote_locked(
    hook: MlflowAccess,
    name: str,
    lock: RegistryLock,
    version: int,
    expected_champion: int | None,
    reason: str,
    actor: str,
    *,
    unconditional: bool,
    action: str,
    details: dict[str, Any] | None,
    policy: RetryPolicy | None,
    op_id: str | None,
    rules: PromotionRules | None = None,
    approval: dict[str, Any] | None = None,
    user: str | None = None,
) -> PromotionResult:
    """`promote` with the lock held and pending changes repaired."""
    model = require_model(hook, name, policy)
    done = _done(name, version, dict(model.tags or {}), op_id)
    if done is not None:
        return done
    require_version(hook, name, version, policy)
    details = dict(details or {})
    refuse_stale(name, version, action, dict(model.tags or {}), details)
    if rules is not None:
        standing = standing_of(hook, name, version, dict(model.tags or {}), policy)
        details.update(authorize(name, version, action, standing, rules, approval))
    if user:
        details["user"] = user
    current = aliases_of(model)
    champion = current.get(CHAMPION)
    if champion == version:
        return PromotionResult(name, version, current.get(PREVIOUS_CHAMPION), changed=False)
    if not unconditional and champion != expected_champion:
        raise RegistryConflictError(
            f"champion of {name!r} is {_v(champion)}, expected {_v(expected_champion)}: it changed "
            f"since it was read; version {version} was not promoted",
            expected=expected_champion,
            actual=champion,
        )
    new: dict[str, int | None] = {CHAMPION: version}
    if champion is not None:
        new[PREVIOUS_CHAMPION] = champion
    if current.get(CHALLENGER) == version:
        new[CHALLENGER] = None
    entries = commit_aliases(
        hook,
        name,
        lock,
        new,
        actor=actor,
        reason=reason,
        action=action,
        details=details,
        version_tags={version: {TAG_PROMOTED_AT: dt.datetime.now(dt.UTC).isoformat()}},
        policy=policy,
        op_id=op_id,
        user=user,
    )
    return PromotionResult(name, version, champion, changed=True, entries=entries)


def _locked_and_repaired(
    hook: MlflowAccess, name: str, actor: str, policy: RetryPolicy | None, lock_ttl: float, lock_wait: float
) -> RegistryLock:
    lock = open_lock(hook, name, actor, policy, lock_ttl, lock_wait)
    lock.acquire()
    try:
        repair_locked(hook, name, require_model(hook, name, policy), lock, policy)
    except BaseException:
        lock.release()
        raise
    return lock


def promote(
    hook: MlflowAccess,
    name: str,
    version: int,
    expected_champion: int | None,
    reason: str,
    actor: str,
    *,
    unconditional: bool = False,
    action: str = "promote",
    details: dict[str, Any] | None = None,
    policy: RetryPolicy | None = None,
    lock_ttl: float = 120.0,
    lock_wait: float = 60.0,
    op_key: str | None = None,
    rules: PromotionRules | None = None,
    approval: dict[str, Any] | None = None,
    user: str | None = None,
) -> PromotionResult:
    """Make `version` the champion of `name`; the old champion becomes `previous-champion`.

    Compare-and-set: raises RegistryConflictError when the champion is no longer `expected_champion`
    (None = "there was no champion"), unless `unconditional`. Promoting the current champion is a
    no-op (changed=False). A `challenger` alias on `version` is removed (it is no longer a candidate).
    `op_key` (e.g. "dag_id/run_id") makes a retry report the change an earlier try made.
    Unknown model or version: RegistryInputError. Registry unreachable: RegistryError after retries.
    With `rules` (every move made for a model's config) the promotion policy is checked under the lock
    (`authorize`; `approval`: {"approved_by", "chosen"}); `user` is the Airflow user who triggered it.
    """
    version = int(version)
    op_id = op_id_for(action, op_key) if op_key else None
    lock = _locked_and_repaired(hook, name, actor, policy, lock_ttl, lock_wait)
    try:
        return _promote_locked(
            hook,
            name,
            lock,
            version,
            expected_champion,
            reason,
            actor,
            unconditional=unconditional,
            action=action,
            details=details,
            policy=policy,
            op_id=op_id,
            rules=rules,
            approval=approval,
            user=user,
        )
    finally:
        lock.release()


def decide_rollback(
    hook: MlflowAccess,
    name: str,
    lock: RegistryLock,
    target_version: int | None,
    op_key: str | None,
    actor: str,
    reason: str,
    policy: RetryPolicy | None,
) -> dict[str, Any]:
    """The rollback decision of this run: read back when an earlier try recorded it, else made and recorded.

    {"target", "expected", "op_id"}: restore `target` in place of `expected` (the champion seen).
    """
    model = require_model(hook, name, policy)
    tags = dict(model.tags or {})
    key = rollback_tag(op_key) if op_key else None
    if key and tags.get(key):
        decision: dict[str, Any] = json.loads(tags[key])
        log.info("rollback of %s: resuming the decision recorded by an earlier try: %s", name, decision)
        return decision
    current = aliases_of(model)
    if target_version is None:
        if PREVIOUS_CHAMPION not in current:
            raise RegistryInputError(
                f"registered model {name!r} has no {PREVIOUS_CHAMPION!r} alias to roll back to; "
                "give target_version explicitly"
            )
        target_version = current[PREVIOUS_CHAMPION]
    require_version(hook, name, int(target_version), policy)
    decision = {
        "target": int(target_version),
        "expected": current.get(CHAMPION),
        "op_id": op_id_for("rollback", op_key),
        "actor": actor,
        "reason": reason[:1000],
        "decided_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    if key:
        lock.fence()
        call(
            policy,
            f"record rollback decision of {name!r}",
            hook.client.set_registered_model_tag,
            name,
            key,
            json.dumps(decision, sort_keys=True),
        )
    return decision


def rollback(
    hook: MlflowAccess,
    name: str,
    target_version: int | None,
    reason: str,
    actor: str,
    *,
    policy: RetryPolicy | None = None,
    lock_ttl: float = 120.0,
    lock_wait: float = 60.0,
    op_key: str | None = None,
    rules: PromotionRules | None = None,
    approval: dict[str, Any] | None = None,
    user: str | None = None,
) -> PromotionResult:
    """Restore `target_version` (default: `previous-champion`) as champion, through the promotion path.

    The current champion becomes `previous-champion`, so a second rollback without a target undoes
    the first. With `op_key` (the Airflow run) the decision is made once and recorded first; a retry
    finishes it. Raises RegistryInputError for an unknown model or version, or when no target is given
    and there is no previous champion. With `rules`, the target must have held `champion` before or
    passed the gate, or be approved where approval is configured (PromotionRefusedError otherwise).
    """
    require_model(hook, name, policy)
    lock = _locked_and_repaired(hook, name, actor, policy, lock_ttl, lock_wait)
    try:
        decision = decide_rollback(hook, name, lock, target_version, op_key, actor, reason, policy)
        return _promote_locked(
            hook,
            name,
            lock,
            int(decision["target"]),
            decision["expected"],
            reason,
            actor,
            unconditional=False,
            action="rollback",
            details=None,
            policy=policy,
            op_id=str(decision["op_id"]),
            rules=rules,
            approval=approval,
            user=user,
        )
    finally:
        lock.release()


def plan_rollback(
    hook: MlflowAccess,
    name: str,
    target_version: int | None,
    reason: str,
    actor: str,
    *,
    rules: PromotionRules,
    policy: RetryPolicy | None = None,
    lock_ttl: float = 120.0,
    lock_wait: float = 60.0,
    op_key: str | None = None,
) -> dict[str, Any]:
    """Decide (and record, per run) the rollback target and what the policy says, moving nothing.

    {"target", "expected", "allowed": bool, "policy" or "refused": why, "needs_approval": bool}.
    A target the policy refuses without approval raises PromotionRefusedError unless approval is
    configured, in which case `needs_approval` is True (the rollback DAG then asks for it).
    """
    lock = _locked_and_repaired(hook, name, actor, policy, lock_ttl, lock_wait)
    try:
        decision = decide_rollback(hook, name, lock, target_version, op_key, actor, reason, policy)
        target = int(decision["target"])
        model = require_model(hook, name, policy)
        standing = standing_of(hook, name, target, dict(model.tags or {}), policy)
    finally:
        lock.release()
    out = {"target": target, "expected": decision["expected"]}
    try:
        verdict = authorize(name, target, "rollback", standing, rules)
    except PromotionRefusedError as exc:
        if not rules.approval_required:
            raise
        return out | {"allowed": False, "needs_approval": True, "refused": str(exc)}
    return out | {"allowed": True, "needs_approval": False, "policy": verdict["policy"]}


def _v(version: int | None) -> str:
    return "none" if version is None else f"version {version}"
