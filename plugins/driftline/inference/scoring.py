"""Scoring: the validated current-window snapshot, read in chunks, predicted chunk by chunk.

Memory stays flat in the input size: the parquet file is read with `ParquetFile.iter_batches`
(`chunk_rows` rows at a time) and items are yielded as they are built. The snapshot is refused
unless its manifest says `validated` and both the manifest's and the file's sha256 equal the
hash in the XCom payload. An entity that appears more than once in the window is scored from its
latest row (by the config's timestamp): one item per key, so a batch never holds a key twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from driftline.config.models import ModelConfig
from driftline.exceptions import SnapshotError
from driftline.inference.arms import CHALLENGER, CHAMPION, NO_MODEL, ArmPlan
from driftline.inference.errors import InferenceInputError
from driftline.inference.items import Item, RunStamp, build_item, check_size

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from driftline.config.models import InferenceSection

log = logging.getLogger(__name__)
_HASH_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ScoringInput:
    """A verified scoring snapshot."""

    uri: str
    rows: int
    sha256: str


def verify_snapshot(payload: dict[str, Any]) -> ScoringInput:
    """Check the payload's snapshot: status validated, manifest and file hashes equal the payload's."""
    from driftline.data.snapshots import SnapshotRef, read_manifest, storage_path

    try:
        ref = SnapshotRef.from_dict(payload)
    except (KeyError, TypeError) as exc:
        raise InferenceInputError(f"the scoring input is not a snapshot reference: {payload!r}") from exc
    manifest = read_manifest(ref.uri)
    if manifest.status != "validated":
        raise SnapshotError(
            f"snapshot {ref.uri} has status {manifest.status!r}; only validated data is scored"
        )
    if manifest.sha256 != ref.sha256:
        raise SnapshotError(
            f"snapshot {ref.uri}: manifest sha256 {manifest.sha256[:12]} != the validated payload's {ref.sha256[:12]}"
        )
    digest = hashlib.sha256()
    with storage_path(ref.uri).open("rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
    if digest.hexdigest() != ref.sha256:
        raise SnapshotError(
            f"snapshot {ref.uri} does not match its validated hash (sha256 {digest.hexdigest()[:12]} != {ref.sha256[:12]})"
        )
    return ScoringInput(uri=ref.uri, rows=manifest.rows, sha256=ref.sha256)


_ID_HASH_KEYS = ("driftline-ids-a0", "driftline-ids-b1")  # two independent 64-bit hashes: 128 bits


def _id_hashes(uri: str, entity: str, key: str) -> np.ndarray:
    """One 64-bit hash per row of the entity id column (read a row group at a time, into one array)."""
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    from driftline.data.snapshots import storage_path

    with storage_path(uri).open("rb") as fh:
        parquet = pq.ParquetFile(fh)
        out = np.empty(parquet.metadata.num_rows, dtype=np.uint64)
        at, nulls = 0, 0
        for batch in parquet.iter_batches(batch_size=65_536, columns=[entity]):
            ids = batch.column(0)
            nulls += ids.null_count
            out[at : at + len(ids)] = pd.util.hash_array(ids.to_pandas().to_numpy(), hash_key=key)
            at += len(ids)
    if nulls:
        raise InferenceInputError(f"snapshot {uri}: {nulls} row(s) have no {entity!r}: they cannot be keyed")
    return out


def latest_row_mask(uri: str, entity: str, timestamp: str) -> np.ndarray | None:
    """A keep-mask of each entity's latest row; None when every entity id is already unique.

    Entity ids are kept only as hashes, a row group read at a time: first one 64-bit hash per row,
    sorted in place (8 bytes per row at the peak). Ids whose hashes all differ are unique, the
    common case, and the check ends there. Otherwise the id column is read again for two
    independent 64-bit hashes in row order, a 128-bit key (a collision among 10^9 ids has odds near
    10^-21), and the timestamps are read; ties on the timestamp keep the later row.
    """
    import numpy as np
    import pyarrow.parquet as pq

    from driftline.data.snapshots import storage_path

    a = _id_hashes(uri, entity, _ID_HASH_KEYS[0])
    a.sort()
    if not bool((a[1:] == a[:-1]).any()):
        return None
    a = _id_hashes(uri, entity, _ID_HASH_KEYS[0])  # in row order again
    b = _id_hashes(uri, entity, _ID_HASH_KEYS[1])
    with storage_path(uri).open("rb") as fh:
        times = pq.ParquetFile(fh).read(columns=[timestamp]).column(0).to_numpy()
    order = np.lexsort((times, b, a))  # by entity, then time; stable, so ties keep file order
    sa, sb = a[order], b[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (sa[1:] != sa[:-1]) | (sb[1:] != sb[:-1])
    if bool(last.all()):
        return None  # the first hashes collided, the ids did not repeat
    keep = np.zeros(len(order), dtype=bool)
    keep[order[last]] = True
    return keep


def iter_frames(uri: str, columns: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    from driftline.data.snapshots import storage_path

    with storage_path(uri).open("rb") as fh:
        for batch in pq.ParquetFile(fh).iter_batches(batch_size=chunk_rows, columns=columns):
            yield batch.to_pandas()


def entity_strings(values: pd.Series) -> list[str]:
    """Entity ids as DynamoDB string keys (integers without a trailing `.0`)."""
    import pandas as pd

    if pd.api.types.is_float_dtype(values) and bool((values % 1 == 0).all()):
        values = values.astype("int64")
    return [str(v) for v in values.tolist()]


def predict_chunk(
    model: Any, frame: pd.DataFrame, config: ModelConfig
) -> tuple[list[Any], list[float] | None, list[dict[str, float]] | None]:
    """(predictions, positive-class scores or None, class probabilities or None) of one chunk."""
    from driftline.training.estimators import prepare_features

    X = prepare_features(frame, config.data.features)
    task = config.training.task
    if task == "regression" or not hasattr(model, "predict_proba"):
        return [_scalar(v) for v in model.predict(X).tolist()], None, None
    proba = model.predict_proba(X)
    classes = [_scalar(c) for c in model.classes_.tolist()]
    predictions = [classes[i] for i in proba.argmax(axis=1).tolist()]
    if task == "binary_classification" and len(classes) == 2:
        return predictions, proba[:, positive_column(model, config)].tolist(), None
    names = [str(c) for c in classes]
    return predictions, None, [dict(zip(names, row, strict=True)) for row in proba.tolist()]


def positive_column(model: Any, config: ModelConfig) -> int:
    """The predict_proba column of the positive class: `data.positive_class` (or 1 of 0/1 labels)
    looked up in the model's `classes_`, resolved as training, the gate and drift do
    (driftline.training.metrics.resolve_positive_class), never "the second column"."""
    from driftline.training.metrics import PositiveClassError, resolve_positive_class, same_label

    classes = list(model.classes_)
    try:
        positive = resolve_positive_class(
            classes, config.data.positive_class, config.data.label, config.model.name
        )
    except PositiveClassError as exc:
        raise InferenceInputError(
            f"{exc}; the champion's classes are {[_scalar(c) for c in classes]}"
        ) from exc
    for i, value in enumerate(classes):
        if same_label(value, positive):
            return i
    raise InferenceInputError(  # pragma: no cover - resolve_positive_class returned a value of classes
        f"model {config.model.name!r}: the positive class {positive!r} is not one of the champion's classes {classes}"
    )


def _scalar(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def predict_arms(
    models: dict[str, Any], frame: pd.DataFrame, arms: np.ndarray, config: ModelConfig, no_model_default: Any
) -> tuple[list[Any], list[float | None] | None, list[dict[str, float] | None] | None]:
    """predict_chunk for a chunk split into A/B arms: each arm's rows by its model (`models`: arm ->
    model), `no_model` rows get `no_model_default` and no score. Results are in the chunk's row order."""
    import numpy as np

    n = len(frame)
    predictions: list[Any] = [no_model_default] * n
    scores: list[float | None] | None = None
    probabilities: list[dict[str, float] | None] | None = None
    for arm, model in models.items():
        rows = np.flatnonzero(arms == arm)
        if len(rows) == 0:
            continue
        p, s, pr = predict_chunk(model, frame.iloc[rows], config)
        for j, i in enumerate(rows.tolist()):
            predictions[i] = p[j]
        if s is not None:
            scores = scores if scores is not None else [None] * n
            for j, i in enumerate(rows.tolist()):
                scores[i] = s[j]
        if pr is not None:
            probabilities = probabilities if probabilities is not None else [None] * n
            for j, i in enumerate(rows.tolist()):
                probabilities[i] = pr[j]
    return predictions, scores, probabilities


def scoring_setup(
    config: ModelConfig, stats: dict[str, int] | None
) -> tuple[InferenceSection, dict[str, int]]:
    """What every engine's `score_items` starts with: the model's inference section
    (InferenceInputError without one) and its counters (rows, items, duplicates_dropped), kept in
    `stats` when the caller passes it."""
    cfg = config.inference
    if cfg is None:
        raise InferenceInputError(f"model {config.model.name!r} has no inference section")
    counts = stats if stats is not None else {}
    for key in ("rows", "items", "duplicates_dropped"):
        counts.setdefault(key, 0)
    return cfg, counts


def score_items(
    model: Any,
    source: ScoringInput,
    config: ModelConfig,
    stamp: RunStamp,
    stats: dict[str, int] | None = None,
    experiment: tuple[ArmPlan, Any] | None = None,
) -> Iterator[Item]:
    """Every prediction item of the snapshot, chunk by chunk.

    `experiment` (an A/B ArmPlan and the challenger's model): each entity is scored by its arm's
    model (`model` is the champion's), or given the plan's no_model default; every item carries
    its `arm`, `experiment_id` and the model version used (none for `no_model`).
    """
    import numpy as np

    cfg, counts = scoring_setup(config, stats)
    entity, ts = config.data.entity_id, config.data.timestamp
    keep = latest_row_mask(source.uri, entity, ts)
    columns = [entity, *config.feature_names]
    offset = 0
    for frame in iter_frames(source.uri, columns, cfg.chunk_rows):
        n = len(frame)
        counts["rows"] += n
        if keep is not None:
            mask = keep[offset : offset + n]
            counts["duplicates_dropped"] += int(n - np.count_nonzero(mask))
            frame = frame[mask]
        offset += n
        if frame.empty:
            continue
        yield from frame_items(model, frame, config, stamp, counts, experiment)


def frame_items(
    model: Any,
    frame: pd.DataFrame,
    config: ModelConfig,
    stamp: RunStamp,
    counts: dict[str, int],
    experiment: tuple[ArmPlan, Any] | None = None,
) -> Iterator[Item]:
    """The prediction items of one chunk of latest rows (any engine's chunk: a parquet batch here,
    an Arrow record batch from DuckDB), each entity by its arm's model when an experiment runs."""
    cfg = config.inference
    if cfg is None:
        raise InferenceInputError(f"model {config.model.name!r} has no inference section")
    ids = entity_strings(frame[config.data.entity_id])
    arms: Any = None
    fields: dict[str, dict[str, Any]] = {}
    scores: list[float | None] | list[float] | None
    probabilities: list[dict[str, float] | None] | list[dict[str, float]] | None
    if experiment is None:
        predictions, scores, probabilities = predict_chunk(model, frame, config)
    else:
        plan, challenger = experiment
        arms = plan.assign(ids)
        models = {CHAMPION: model, CHALLENGER: challenger}
        predictions, scores, probabilities = predict_arms(models, frame, arms, config, plan.no_model_default)
        fields = _arm_fields(plan)
    for i, key in enumerate(ids):
        item = build_item(
            cfg,
            stamp,
            key,
            predictions[i],
            scores[i] if scores is not None else None,
            probabilities[i] if probabilities is not None else None,
            fields[arms[i]] if arms is not None else None,
        )
        if arms is not None:
            counts[f"arm:{arms[i]}"] = counts.get(f"arm:{arms[i]}", 0) + 1
        check_size(item, cfg.partition_key)
        counts["items"] += 1
        yield item


def arm_counts(counts: dict[str, int]) -> dict[str, int]:
    """Items per A/B arm from score_items' `stats` (its `arm:<name>` keys)."""
    return {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("arm:")}


def _arm_fields(plan: ArmPlan) -> dict[str, dict[str, Any]]:
    """The item fields of each arm (None removes the stamp's value: a no_model item names no model)."""
    return {
        CHAMPION: {"arm": CHAMPION, "experiment_id": plan.experiment_id},
        CHALLENGER: {
            "arm": CHALLENGER,
            "experiment_id": plan.experiment_id,
            "model_version": plan.challenger_version,
            "alias": CHALLENGER,
        },
        NO_MODEL: {
            "arm": NO_MODEL,
            "experiment_id": plan.experiment_id,
            "model_version": None,
            "alias": None,
        },
    }
