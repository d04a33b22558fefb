"""The evaluation gate: challenger against champion on the same, unseen-by-training data.

The evaluation data is the validation slice (the latest `training.validation_days`) of the
validated training snapshot, cut with driftline.training.split.time_split exactly as training cut it,
so neither model was fitted on it. Both versions are loaded from the registry
(`models:/<name>/<version>`), predict the same held-out rows, and are compared with a paired
bootstrap (driftline.training.bootstrap.paired_comparison): `registry.bootstrap_resamples`
resamples of those rows, both models scored on each, the improvement's standard error from the
resampled differences and a one-sided Student-t bound at `registry.alpha`. `decide` holds the
rule: promote only when the improvement is significant (its lower bound is above 0) AND at least
`registry.min_improvement` (the minimum effect worth a model change). `run_gate` does the I/O
and, on "promoted", moves the aliases through driftline.registry.promotion.promote with
compare-and-set on the champion it scored. The interval is logged, returned (XCom) and written
as version tags.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from driftline.payloads import GatePayload
from driftline.registry.approval import PromotionRequest
from driftline.registry.audit import PENDING_TAG, entries_of_op
from driftline.registry.champion import get_champion, read_model
from driftline.registry.errors import RegistryInputError, StalePromotionError
from driftline.registry.promotion import (
    PromotionResult,
    PromotionRules,
    op_id_for,
    promote,
    refuse_stale,
    repair,
    require_version,
)
from driftline.registry.retry import RetryPolicy, call

if TYPE_CHECKING:
    import pandas as pd

    from driftline.config.models import ModelConfig, RegistrySection
    from driftline.mlflow_store import MlflowAccess
    from driftline.registry.champion import ChampionInfo
    from driftline.training.bootstrap import PairedComparison, Predictions

log = logging.getLogger(__name__)
Decision = Literal["promoted", "kept_champion", "rejected"]
EPS = 1e-12
TAG_GATE_PREFIX = "driftline.gate."


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict with the numbers behind it."""

    decision: Decision
    reason: str
    metric: str
    direction: str
    challenger_score: float
    champion_score: float | None
    improvement: float | None
    interval: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _missing(score: float | None) -> bool:
    return score is None or (isinstance(score, float) and math.isnan(score))


def _fmt(score: float | None) -> str:
    return "n/a" if _missing(score) else f"{score:.6g}"


def decide(
    challenger_score: float,
    champion_score: float | None,
    registry_cfg: RegistrySection,
    comparison: PairedComparison | None = None,
) -> GateDecision:
    """The gate rule.

    With a champion: "promoted" when the challenger is better by at least `min_improvement` (in the
    metric's `direction`) AND the improvement is significant: `comparison` (the paired bootstrap of
    the same held-out rows, required with a champion) has its one-sided (1 - alpha) lower bound above
    0; else "kept_champion". Without a champion (or one that could not be scored): "promoted" when
    the challenger meets the optional floor `min_score` (>= for maximize, <= for minimize), else
    "rejected". A challenger without a score is "rejected".
    """
    metric, direction = registry_cfg.metric, registry_cfg.direction
    sign = 1.0 if direction == "maximize" else -1.0
    better = "higher" if direction == "maximize" else "lower"
    interval = comparison.to_dict() if comparison is not None else None

    def verdict(decision: Decision, reason: str, improvement: float | None = None) -> GateDecision:
        return GateDecision(
            decision, reason, metric, direction, challenger_score, champion_score, improvement, interval
        )

    if _missing(challenger_score):
        return verdict("rejected", f"challenger has no {metric} score (NaN): it cannot be compared")
    if _missing(champion_score):
        floor = registry_cfg.min_score
        prefix = "no champion" if champion_score is None else "champion could not be scored"
        if floor is None:
            return verdict(
                "promoted", f"{prefix}; challenger {metric} {_fmt(challenger_score)}, no min_score floor set"
            )
        if sign * (challenger_score - floor) >= -EPS:
            return verdict(
                "promoted",
                f"{prefix}; challenger {metric} {_fmt(challenger_score)} meets min_score {_fmt(floor)}",
            )
        return verdict(
            "rejected",
            f"{prefix}; challenger {metric} {_fmt(challenger_score)} misses min_score {_fmt(floor)} "
            f"({better} is better)",
        )
    assert champion_score is not None  # noqa: S101 - narrows the type: a missing champion score returned above
    if comparison is None:
        raise RegistryInputError(
            f"the gate compares {metric} of challenger and champion with a paired test: "
            "decide() needs the PairedComparison of the same held-out rows"
        )
    improvement = sign * (challenger_score - champion_score)
    needed = registry_cfg.min_improvement
    numbers = (
        f"challenger {metric} {_fmt(challenger_score)} vs champion {_fmt(champion_score)}: "
        f"improvement {improvement:+.6g} ({better} is better), required >= {needed:.6g}"
    )
    lower = comparison.lower
    significant = not math.isnan(lower) and lower > EPS
    stats = f"{comparison.describe()}; alpha {comparison.alpha}"
    if improvement > EPS and improvement >= needed - EPS and significant:
        return verdict("promoted", f"{numbers}; significant: {stats}", improvement)
    if improvement <= EPS:
        why = "not better than the champion"
    elif improvement < needed - EPS:
        why = "improvement below min_improvement"
    else:
        why = f"improvement not significant at alpha {comparison.alpha} (lower bound {lower:+.4g} <= 0)"
    return verdict("kept_champion", f"{why}; {numbers}; {stats}", improvement)


def evaluation_data(config: ModelConfig, evaluation: dict[str, Any]) -> tuple[pd.DataFrame, pd.Series]:
    """(X, y) of the validation slice of the validated training snapshot referenced by `evaluation`.

    A data problem (unreadable snapshot, no validation rows) raises a PermanentError.
    """
    from driftline.data.snapshots import SnapshotRef, read_snapshot
    from driftline.training.estimators import prepare_features
    from driftline.training.split import time_split

    if not evaluation or "uri" not in evaluation:
        raise RegistryInputError(
            f"model {config.model.name!r}: the gate needs the validated training snapshot reference "
            f"(a SnapshotRef dict with 'uri'), got {evaluation!r}"
        )
    ref = SnapshotRef.from_dict(evaluation)
    df = read_snapshot(
        ref.uri, require="validated", conn_id=ref.facts.get("conn_id"), sha256=ref.sha256 or None
    )
    _, valid = time_split(
        df, config.data.timestamp, config.training.validation_days, config.training.min_validation_rows
    )
    if len(valid) == 0:
        raise RegistryInputError(
            f"model {config.model.name!r}: snapshot {ref.uri} has no rows in its last "
            f"{config.training.validation_days} day(s) (training.validation_days) to evaluate on"
        )
    # The same feature frame training fitted on (driftline.training.estimators.prepare_features).
    return prepare_features(valid, config.data.features), valid[config.data.label]


def predict_version(
    hook: MlflowAccess,
    name: str,
    version: int,
    X: pd.DataFrame,
    y: pd.Series,
    config: ModelConfig,
    positive: Any = None,
) -> Predictions:
    """Load `models:/name/version` and return its predictions on (X, y)."""
    from driftline.registry.models import load_model_version
    from driftline.training.metrics import available_metrics, predictions

    metric = config.registry.metric
    if metric not in available_metrics(config.training.task):
        raise RegistryInputError(
            f"model {name!r}: registry.metric {metric!r} is not computed for task {config.training.task!r}; "
            f"available: {sorted(available_metrics(config.training.task))}"
        )
    model = load_model_version(hook, name, version, config)
    scored: Predictions = predictions(model, X, y, config.training.task, positive)
    return scored


def score_version(
    hook: MlflowAccess, name: str, version: int, X: pd.DataFrame, y: pd.Series, config: ModelConfig
) -> float:
    """Load `models:/name/version` and return its `registry.metric` on (X, y) (NaN when undefined)."""
    from driftline.training.bootstrap import point_metric

    return point_metric(config.registry.metric, predict_version(hook, name, version, X, y, config))


def _record(
    hook: MlflowAccess, name: str, version: int, tags: dict[str, str], policy: RetryPolicy | None
) -> None:
    for key, value in tags.items():
        call(
            policy,
            f"tag version {version} of {name!r}",
            hook.client.set_model_version_tag,
            name,
            str(version),
            key,
            value,
        )


@dataclass
class GateScores:
    """What the scoring step measured: both scores on the same held-out rows, and their comparison."""

    positive: Any
    challenger_predictions: Predictions
    challenger_score: float
    champion_score: float | None = None
    comparison: PairedComparison | None = None


@dataclass(frozen=True)
class GateRoute:
    """Where a verdict goes: the recorded decision, and whether it starts an A/B test or waits for approval."""

    decision: str
    ab_test: bool
    deferred: bool


def run_gate(
    hook: MlflowAccess,
    config: ModelConfig,
    registered: dict[str, Any],
    evaluation: dict[str, Any],
    *,
    actor: str,
    policy: RetryPolicy | None = None,
    lock_ttl: float = 120.0,
    lock_wait: float = 60.0,
    op_key: str | None = None,
    data_time: dt.datetime | None = None,
    approval_required: bool = False,
    data_start: dt.datetime | None = None,
    user: str | None = None,
) -> GatePayload:
    """Score challenger and champion, decide, promote on "promoted"; return the gate result dict.

    With `approval_required` a "promoted" verdict moves nothing: the decision becomes
    "awaiting_approval" and the result carries a `promotion_request`
    (driftline.registry.approval.PromotionRequest) for the approval task; the promote step after it
    moves the alias. The verdict is recorded in the version's tags either way.

    `data_time` (the run's data-interval end) goes into the promotion's audit entry, so readers
    know from which data time on this version was champion (registry.champion.get_champion_as_of).

    Result: {"decision", "reason", "metric", "direction", "challenger": {"version", "score"},
    "champion": {"version", "score"} | None, "promotion": {...} | None}. With `op_key` (the Airflow
    run) a retry after the promotion went through returns what the first try decided; a change a
    crashed try left half-done is completed first.

    The steps, in order: `challenger_version` (read), `prepare_registry` (finish a crashed try's
    change, find the champion), `score_challenger`, (a retry whose promotion went through returns
    `_resumed`), `score_champion`, `decide`, `route_verdict`, `record_verdict` (version tags),
    `act_on_verdict` (approval request, A/B experiment or promotion), `gate_result`.
    """
    name = config.registered_model_name
    challenger = challenger_version(name, registered)
    mv, champion = prepare_registry(hook, name, challenger, actor, policy)
    X, y = evaluation_data(config, evaluation)
    scores = score_challenger(hook, config, challenger, X, y)
    if champion is not None and champion.version == challenger:  # an earlier try already promoted it
        resumed = _resumed(
            hook, name, challenger, scores.challenger_score, dict(mv.tags or {}), config, op_key, policy
        )
        resumed["positive_class"] = scores.positive
        return resumed
    score_champion(hook, config, challenger, champion, X, y, scores)
    verdict = decide(scores.challenger_score, scores.champion_score, config.registry, scores.comparison)
    stale = _stale(hook, name, challenger, data_time, policy) if verdict.decision == "promoted" else None
    if stale is not None:  # a later data day's run promoted first: the newer data time wins
        verdict = replace(verdict, decision="kept_champion", reason=f"{verdict.reason}; but {stale}")
    route = route_verdict(verdict, champion is not None, config, approval_required)
    record_verdict(hook, name, challenger, champion, scores, verdict, route, evaluation, policy)
    acted = act_on_verdict(
        hook,
        config,
        challenger,
        champion,
        scores,
        verdict,
        route,
        evaluation,
        actor=actor,
        policy=policy,
        lock_ttl=lock_ttl,
        lock_wait=lock_wait,
        op_key=op_key,
        data_time=data_time,
        approval_required=approval_required,
        data_start=data_start,
        user=user,
    )
    if acted.refused is not None:
        # refused under the lock: a newer data time's promotion got there after this gate's read
        verdict = replace(verdict, decision="kept_champion", reason=f"{verdict.reason}; but {acted.refused}")
        route = replace(route, decision="kept_champion")
        tags = {
            f"{TAG_GATE_PREFIX}decision": route.decision,
            f"{TAG_GATE_PREFIX}reason": verdict.reason[:4000],
        }
        _record(hook, name, challenger, tags, policy)
    return gate_result(
        config, challenger, champion, scores, verdict, route, acted.request, acted.experiment, acted.promotion
    )


def _stale(
    hook: MlflowAccess, name: str, version: int, data_time: dt.datetime | None, policy: RetryPolicy | None
) -> str | None:
    """Why promoting `version` for `data_time` would be stale (a champion from newer data), or None."""
    if data_time is None:
        return None
    model = read_model(hook, name, policy)
    tags = dict(model.tags or {}) if model else {}
    try:
        refuse_stale(name, version, "promote", tags, {"data_time": data_time.isoformat()})
    except StalePromotionError as exc:
        return str(exc)
    return None


def challenger_version(name: str, registered: dict[str, Any]) -> int:
    """The registered version the gate evaluates (a RegistryInputError when `registered` has none)."""
    try:
        return int((registered or {})["version"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryInputError(
            f"model {name!r}: the gate needs the registered version, got {registered!r}"
        ) from exc


def prepare_registry(
    hook: MlflowAccess, name: str, challenger: int, actor: str, policy: RetryPolicy | None
) -> tuple[Any, ChampionInfo | None]:
    """The challenger's model version and the current champion, after finishing a change an
    earlier try left half-done (a pending tag on the registered model)."""
    mv = require_version(hook, name, challenger, policy)
    model = read_model(hook, name, policy)
    if model is not None and dict(model.tags or {}).get(PENDING_TAG):
        repair(hook, name, actor, policy)  # an earlier try died midway: finish its change first
    return mv, get_champion(hook, name)


def score_challenger(
    hook: MlflowAccess, config: ModelConfig, challenger: int, X: pd.DataFrame, y: pd.Series
) -> GateScores:
    """The positive class (binary tasks) and the challenger's `registry.metric` on (X, y)."""
    from driftline.training.bootstrap import point_metric
    from driftline.training.metrics import resolve_positive_class

    name = config.registered_model_name
    positive = None
    if config.training.task == "binary_classification":
        positive = resolve_positive_class(y, config.data.positive_class, config.data.label, config.model.name)
        log.info(
            "gate for %r: positive class %r of %r (%s); %d held-out rows",
            name,
            positive,
            config.data.label,
            "data.positive_class" if config.data.positive_class is not None else "0/1 labels: 1",
            len(y),
        )
    preds = predict_version(hook, name, challenger, X, y, config, positive)
    return GateScores(positive, preds, point_metric(config.registry.metric, preds))


def score_champion(
    hook: MlflowAccess,
    config: ModelConfig,
    challenger: int,
    champion: ChampionInfo | None,
    X: pd.DataFrame,
    y: pd.Series,
    scores: GateScores,
) -> None:
    """Score the champion on the same rows and compare it with the challenger (paired bootstrap).

    A champion whose signature this config cannot serve (changed features) scores NaN: the gate
    then treats it as a champion that could not be scored. Fills `scores` in place.
    """
    if champion is None:
        return
    from driftline.registry.signature import serving_problems
    from driftline.training.bootstrap import paired_comparison, point_metric

    name = config.registered_model_name
    cannot_serve = serving_problems(hook, config, champion.version)
    if cannot_serve:  # the config changed its features: the champion cannot score
        log.warning(
            "champion v%s cannot be scored on this config: %s", champion.version, "; ".join(cannot_serve)
        )
        scores.champion_score = float("nan")
        return
    champion_preds = predict_version(hook, name, champion.version, X, y, config, scores.positive)
    scores.champion_score = point_metric(config.registry.metric, champion_preds)
    if _missing(scores.champion_score) or _missing(scores.challenger_score):
        return
    scores.comparison = paired_comparison(
        config.registry.metric,
        champion_preds,
        scores.challenger_predictions,
        direction=config.registry.direction,
        alpha=config.registry.alpha,
        resamples=config.registry.bootstrap_resamples,
        seed=challenger,
    )
    log.info(
        "gate for %r: v%d vs champion v%d: %s",
        name,
        challenger,
        champion.version,
        scores.comparison.describe(),
    )


def route_verdict(
    verdict: GateDecision, has_champion: bool, config: ModelConfig, approval_required: bool
) -> GateRoute:
    """The decision to record: "ab_test", "awaiting_approval" or the verdict's own."""
    # With ab_test enabled, a challenger that passed against a champion starts an A/B experiment
    # instead of being promoted (driftline.experiments.lifecycle); the first champion is promoted.
    ab_test = verdict.decision == "promoted" and has_champion and _ab_enabled(config)
    # registry.approval.required: record the verdict, the approval task and promote step act on it
    deferred = approval_required and verdict.decision == "promoted" and not ab_test
    decision = "ab_test" if ab_test else "awaiting_approval" if deferred else verdict.decision
    return GateRoute(decision, ab_test, deferred)


def record_verdict(
    hook: MlflowAccess,
    name: str,
    challenger: int,
    champion: ChampionInfo | None,
    scores: GateScores,
    verdict: GateDecision,
    route: GateRoute,
    evaluation: dict[str, Any],
    policy: RetryPolicy | None,
) -> None:
    """Write the verdict and the numbers behind it as tags of the challenger's version."""
    champion_score = scores.champion_score
    _record(
        hook,
        name,
        challenger,
        {
            f"{TAG_GATE_PREFIX}decision": route.decision,
            f"{TAG_GATE_PREFIX}reason": verdict.reason[:4000],
            f"{TAG_GATE_PREFIX}score": repr(scores.challenger_score),
            f"{TAG_GATE_PREFIX}champion_version": str(champion.version) if champion else "",
            f"{TAG_GATE_PREFIX}champion_score": repr(champion_score) if champion_score is not None else "",
            f"{TAG_GATE_PREFIX}evaluated_on": str(evaluation.get("uri", "")),
            f"{TAG_GATE_PREFIX}at": dt.datetime.now(dt.UTC).isoformat(),
            f"{TAG_GATE_PREFIX}interval": json.dumps(verdict.interval) if verdict.interval else "",
            f"{TAG_GATE_PREFIX}positive_class": repr(scores.positive) if scores.positive is not None else "",
        },
        policy,
    )


@dataclass(frozen=True)
class GateActions:
    """What `act_on_verdict` did: at most one of request, experiment and promotion; `refused` says
    why a promotion the verdict called for was refused under the registry lock."""

    request: PromotionRequest | None = None
    experiment: dict[str, Any] | None = None
    promotion: dict[str, Any] | None = None
    refused: str | None = None


def act_on_verdict(
    hook: MlflowAccess,
    config: ModelConfig,
    challenger: int,
    champion: ChampionInfo | None,
    scores: GateScores,
    verdict: GateDecision,
    route: GateRoute,
    evaluation: dict[str, Any],
    *,
    actor: str,
    policy: RetryPolicy | None,
    lock_ttl: float,
    lock_wait: float,
    op_key: str | None,
    data_time: dt.datetime | None,
    approval_required: bool,
    data_start: dt.datetime | None,
    user: str | None,
) -> GateActions:
    """The one of approval request, experiment and promotion that the route calls for.

    Deferred: the request the approval task answers. A/B test: the experiment started against the
    champion. Promoted: the aliases moved (compare-and-set on the champion that was scored).
    """
    name = config.registered_model_name
    metric = config.registry.metric
    if route.deferred:
        request: PromotionRequest = {
            "source": "gate",
            "model": name,
            "version": challenger,
            "expected_champion": champion.version if champion else None,
            "reason": f"gate: {verdict.reason}",
            "metric": metric,
            "direction": config.registry.direction,
            "challenger_score": scores.challenger_score,
            "champion_score": scores.champion_score,
            "interval": verdict.interval,
            "ab_result": None,
            "evaluated_on": str(evaluation.get("uri", "")),
            "data_window": {"start": data_start.isoformat(), "end": data_time.isoformat()}
            if data_start and data_time
            else None,
            "requested_by": actor,
            "details": {
                **({"data_time": data_time.astimezone(dt.UTC).isoformat()} if data_time else {}),
            },
        }
        return GateActions(request=request)
    if route.ab_test and champion is not None:
        from driftline.experiments.lifecycle import start_for_challenger

        experiment = start_for_challenger(
            hook.client,
            config,
            champion_version=champion.version,
            challenger_version=challenger,
            op_key=op_key or actor,
            started_at=data_start or data_time,  # data time: the first window its arms are scored on
            policy=policy,
            lock_ttl=lock_ttl,
            lock_wait=lock_wait,
        ).to_dict()
        return GateActions(experiment=experiment)
    if verdict.decision == "promoted":
        try:
            moved = promote(
                hook,
                name,
                challenger,
                champion.version if champion else None,
                f"gate: {verdict.reason}",
                actor,
                details={
                    "metric": metric,
                    "challenger_score": scores.challenger_score,
                    "champion_score": scores.champion_score,
                    "interval": verdict.interval,
                    **({"data_time": data_time.astimezone(dt.UTC).isoformat()} if data_time else {}),
                },
                policy=policy,
                lock_ttl=lock_ttl,
                lock_wait=lock_wait,
                op_key=op_key,
                rules=PromotionRules(approval_required=approval_required),
                user=user,
            )
        except StalePromotionError as exc:  # a newer data time's promotion won the lock first
            log.warning("gate: %s", exc)
            return GateActions(refused=str(exc))
        return GateActions(promotion=moved.to_dict())
    return GateActions()


def gate_result(
    config: ModelConfig,
    challenger: int,
    champion: ChampionInfo | None,
    scores: GateScores,
    verdict: GateDecision,
    route: GateRoute,
    request: PromotionRequest | None,
    experiment: dict[str, Any] | None,
    promotion: dict[str, Any] | None,
) -> GatePayload:
    """The gate's result (its XCom), from what each step decided and did."""
    result: GatePayload = {
        "decision": route.decision,
        "reason": verdict.reason if experiment is None else f"{verdict.reason}; {experiment['reason']}",
        "metric": config.registry.metric,
        "direction": config.registry.direction,
        "challenger": {"version": challenger, "score": scores.challenger_score},
        "champion": {"version": champion.version, "score": scores.champion_score} if champion else None,
        "interval": verdict.interval,
        "positive_class": scores.positive,
        "promotion": promotion,
    }
    if route.deferred:
        result["promotion_request"] = request
    if experiment is not None:
        result["experiment"] = experiment
    return result


def _ab_enabled(config: ModelConfig) -> bool:
    return config.ab_test is not None and config.ab_test.enabled


def _resumed(
    hook: MlflowAccess,
    name: str,
    challenger: int,
    challenger_score: float,
    version_tags: dict[str, str],
    config: ModelConfig,
    op_key: str | None,
    policy: RetryPolicy | None,
) -> GatePayload:
    """The result of a gate whose promotion an earlier try made: rebuilt from its recorded tags."""
    model = read_model(hook, name, policy)
    tags = dict(model.tags or {}) if model else {}
    entries = entries_of_op(tags, op_id_for("promote", op_key)) if op_key else []
    champ_version = version_tags.get(f"{TAG_GATE_PREFIX}champion_version") or ""
    champ_score = version_tags.get(f"{TAG_GATE_PREFIX}champion_score") or ""
    promotion = None
    if entries:
        previous = next((e.from_version for e in entries if e.alias == "champion"), None)
        promotion = PromotionResult(name, challenger, previous, changed=True, entries=entries).to_dict()
    interval = json.loads(version_tags.get(f"{TAG_GATE_PREFIX}interval") or "null")
    return {
        "decision": "promoted",
        "reason": version_tags.get(f"{TAG_GATE_PREFIX}reason")
        or f"version {challenger} is already the champion (promoted by an earlier try)",
        "metric": config.registry.metric,
        "direction": config.registry.direction,
        "challenger": {"version": challenger, "score": challenger_score},
        "champion": {"version": int(champ_version), "score": float(champ_score) if champ_score else None}
        if champ_version
        else None,
        "interval": interval,
        "promotion": promotion,
    }
