"""The predictions table: created when missing (if the config allows), its key schema checked."""

from __future__ import annotations

import logging
from typing import Any

from driftline.config.models import InferenceSection
from driftline.exceptions import error_code
from driftline.inference.errors import InferenceInputError

log = logging.getLogger(__name__)


def expected_keys(cfg: InferenceSection) -> list[tuple[str, str]]:
    """[(attribute, HASH|RANGE)] the config asks for; every key attribute is a string."""
    keys = [(cfg.partition_key, "HASH")]
    if cfg.layout == "history":
        keys.append((cfg.sort_key, "RANGE"))
    return keys


def describe(client: Any, table: str) -> dict[str, Any] | None:
    """The table description, or None when it does not exist."""
    try:
        return dict(client.describe_table(TableName=table)["Table"])
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise


def check_key_schema(cfg: InferenceSection, description: dict[str, Any]) -> None:
    """Refuse a live table whose keys differ from the config's layout."""
    live = [(k["AttributeName"], k["KeyType"]) for k in description.get("KeySchema", [])]
    types = {a["AttributeName"]: a["AttributeType"] for a in description.get("AttributeDefinitions", [])}
    want = expected_keys(cfg)
    problems = []
    if live != want:
        problems.append(f"key schema is {live}, the config (layout {cfg.layout!r}) needs {want}")
    wrong = {name: types.get(name) for name, _ in want if name in types and types[name] != "S"}
    if wrong:
        problems.append(f"key attributes must be strings (S), found {wrong}")
    if problems:
        raise InferenceInputError(f"DynamoDB table {cfg.table!r}: " + "; ".join(problems))


def ensure_table(client: Any, cfg: InferenceSection) -> dict[str, Any]:
    """The live table's description after checking it; creates it when missing and allowed."""
    description = describe(client, cfg.table)
    if description is None:
        if not cfg.create_if_missing:
            raise InferenceInputError(
                f"DynamoDB table {cfg.table!r} does not exist and inference.create_if_missing is false: "
                "create it with the configured keys or allow Driftline to create it"
            )
        keys = expected_keys(cfg)
        log.info("creating DynamoDB table %s (on-demand, keys %s)", cfg.table, keys)
        try:
            client.create_table(
                TableName=cfg.table,
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": n, "KeyType": t} for n, t in keys],
                AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n, _ in keys],
            )
        except Exception as exc:
            if error_code(exc) != "ResourceInUseException":  # created concurrently: check it below
                raise
        client.get_waiter("table_exists").wait(
            TableName=cfg.table, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        description = describe(client, cfg.table) or {}
        if cfg.ttl_days is not None:
            client.update_time_to_live(
                TableName=cfg.table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": cfg.ttl_attribute},
            )
    check_key_schema(cfg, description)
    return description
