"""Prediction items: keys per layout, DynamoDB-safe values, the 400 KB limit, item-set checksums.

Keys are deterministic: `latest` keys an item by entity id only, `history` by entity id and the
date the scored window ends, so a rerun of the same logical date overwrites its own items.
Meta items (run records, the newest-data marker) live in the same table under partition keys
starting with `META_PREFIX`; entity ids must not start with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any

from driftline.config.models import InferenceSection
from driftline.inference.errors import InferenceInputError

MAX_ITEM_BYTES = 400 * 1024
META_PREFIX = "__driftline"
META_SORT_VALUE = "-"
_DECIMAL = Context(prec=38)

Item = dict[str, Any]


@dataclass(frozen=True)
class RunStamp:
    """What every item of one scoring run carries (decided once per Airflow run)."""

    model_name: str
    model_version: int
    alias: str
    run_id: str
    scored_at: str
    data_time: str
    arms: str = ""  # the run's A/B ArmPlan as JSON (driftline.inference.arms); "" without an experiment

    def to_dict(self) -> dict[str, Any]:
        data = {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "alias": self.alias,
            "run_id": self.run_id,
            "scored_at": self.scored_at,
            "data_time": self.data_time,
        }
        if self.arms:
            data["arms"] = self.arms
        return data


def to_decimal(value: float) -> Decimal | None:
    """A float as a DynamoDB number (None for NaN/inf, which DynamoDB cannot store)."""
    if not math.isfinite(value):
        return None
    return _DECIMAL.create_decimal_from_float(float(value)).normalize(_DECIMAL)


def sort_value(stamp: RunStamp) -> str:
    """The `history` layout's sort key value: the date the scored window ends."""
    return stamp.data_time[:10]


def key_of(cfg: InferenceSection, entity: str, stamp: RunStamp) -> Item:
    key: Item = {cfg.partition_key: entity}
    if cfg.layout == "history":
        key[cfg.sort_key] = sort_value(stamp)
    return key


def meta_key(cfg: InferenceSection, name: str) -> Item:
    """The key of a meta item (`name` such as `newest` or `run#<run_id>`)."""
    key: Item = {cfg.partition_key: f"{META_PREFIX}#{name}"}
    if cfg.layout == "history":
        key[cfg.sort_key] = META_SORT_VALUE
    return key


def expires_at(cfg: InferenceSection, stamp: RunStamp) -> int | None:
    """The item's TTL (epoch seconds): `ttl_days` after the run's scored-at time (`ttl_from:
    write_time`, the default: a backfill's items live as long as any others) or after its data time.
    Both come from the run's recorded decision, so a retry writes the same value."""
    if cfg.ttl_days is None:
        return None
    start = dt.datetime.fromisoformat(stamp.scored_at if cfg.ttl_from == "write_time" else stamp.data_time)
    return int((start + dt.timedelta(days=cfg.ttl_days)).timestamp())


def build_item(
    cfg: InferenceSection,
    stamp: RunStamp,
    entity: str,
    prediction: Any,
    score: float | None,
    probabilities: Mapping[str, float] | None,
    arm: Mapping[str, Any] | None = None,
) -> Item:
    """One prediction item; floats become Decimal. `arm`: an A/B arm's fields (arm, model_version,
    alias, experiment_id) over the stamp's; a None value leaves the field out."""
    if entity.startswith(META_PREFIX):
        raise InferenceInputError(
            f"entity id {entity!r} starts with {META_PREFIX!r}, reserved for meta items"
        )
    item = key_of(cfg, entity, stamp)
    item["prediction"] = to_decimal(prediction) if isinstance(prediction, float) else prediction
    if score is not None:
        item["score"] = to_decimal(score)
    if probabilities:
        item["probabilities"] = {k: to_decimal(v) for k, v in probabilities.items()}
    item.update(
        model_name=stamp.model_name,
        model_version=stamp.model_version,
        alias=stamp.alias,
        airflow_run_id=stamp.run_id,
        scored_at=stamp.scored_at,
        data_time=stamp.data_time,
    )
    if arm:
        item.update(arm)
    ttl = expires_at(cfg, stamp)
    if ttl is not None:
        item[cfg.ttl_attribute] = ttl
    return {k: v for k, v in item.items() if v is not None}


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | Decimal):
        return 1 + (len(str(value)) + 1) // 2  # DynamoDB numbers: about 1 byte per 2 digits, + 1
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, Mapping):
        return 3 + sum(len(str(k).encode()) + _value_size(v) + 1 for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(_value_size(v) + 1 for v in value)
    return len(str(value).encode())


def item_size(item: Mapping[str, Any]) -> int:
    """DynamoDB's item size (attribute names + values), an upper-bound estimate."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def check_size(item: Mapping[str, Any], partition_key: str) -> None:
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise InferenceInputError(
            f"item for {partition_key}={item.get(partition_key)!r} is {size} bytes, over DynamoDB's "
            f"{MAX_ITEM_BYTES}-byte item limit"
        )


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    return value


def item_set_checksum(items: Iterable[Mapping[str, Any]], ignore: Iterable[str] = ()) -> tuple[int, str]:
    """(count, sha256) of a set of items, independent of order: compares two tables' contents."""
    skip = set(ignore)
    digests = sorted(
        hashlib.sha256(
            json.dumps({k: _plain(v) for k, v in item.items() if k not in skip}, sort_keys=True).encode()
        ).hexdigest()
        for item in items
    )
    return len(digests), hashlib.sha256("".join(digests).encode()).hexdigest()
