"""One bound for every external call: MLflow, DynamoDB, S3, SQL (`external_timeout_s`, default 30 s).

Set it as `DRIFTLINE_EXTERNAL_TIMEOUT_S`, or `[driftline] external_timeout_s` in Airflow's config
(`AIRFLOW__DRIFTLINE__EXTERNAL_TIMEOUT_S`). Each client gets it its own way:

- MLflow: a request times out after the bound and MLflow's own HTTP retries are off
  (`MLFLOW_HTTP_REQUEST_TIMEOUT`, `MLFLOW_HTTP_REQUEST_MAX_RETRIES=0`). Left alone, MLflow retries
  7 times with exponential backoff and a 120 s timeout per request: a stopped tracking server held
  `check_drift` for about 4 minutes per try. MLflow 3 reads these two settings from the process
  environment on every request and offers no per-client setting (mlflow.utils.rest_utils
  `http_request`), so they are set as defaults of the task's process, only these two, and only when
  the environment does not set them itself. Driftline's own retries (registry.retry, Airflow's task
  retries) are the retries.
- DynamoDB / S3 (botocore): `Config(connect_timeout, read_timeout, retries={"max_attempts": 3})` on
  the client; S3 through the object store's `storage_options` (botocore config of s3fs).
- SQL: the connection's driver gets a connect timeout and, where the database has one, a statement
  timeout (PostgreSQL `statement_timeout`, MySQL `read_timeout`) unless its extra sets them.
"""

from __future__ import annotations

import os
from typing import Any

from driftline.settings import setting

DEFAULT_TIMEOUT_S = 30.0
SETTING = "external_timeout_s"


def external_timeout_s() -> float:
    """The bound of one external call in seconds (`external_timeout_s`; default 30)."""
    raw = setting(SETTING, None)
    if raw in (None, ""):
        return DEFAULT_TIMEOUT_S
    try:
        value = float(str(raw))
    except ValueError:
        raise ValueError(
            f"DRIFTLINE_EXTERNAL_TIMEOUT_S / [driftline] external_timeout_s must be a number of seconds, got {raw!r}"
        ) from None
    if value <= 0:
        raise ValueError(f"DRIFTLINE_EXTERNAL_TIMEOUT_S must be positive, got {raw!r}")
    return value


def bound_mlflow_http() -> None:
    """MLflow's request timeout = the bound, its own HTTP retries off (unless the environment sets them)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, round(external_timeout_s()))))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")


def botocore_options(**extra: Any) -> dict[str, Any]:
    """botocore `Config` keyword arguments bounding each call (plus `extra`, which wins)."""
    bound = external_timeout_s()
    return {
        "connect_timeout": bound,
        "read_timeout": bound,
        "retries": {"max_attempts": 3, "mode": "standard"},
        **extra,
    }


def botocore_config(**extra: Any) -> Any:
    """A botocore `Config` bounding each call (see `botocore_options`)."""
    from botocore.config import Config

    return Config(**botocore_options(**extra))


def sql_connect_extra(conn_type: str | None) -> dict[str, Any]:
    """Connection extras that bound a SQL connection of `conn_type` (empty for a driver without them)."""
    bound = external_timeout_s()
    kind = (conn_type or "").lower()
    if kind in ("postgres", "postgresql"):
        return {
            "connect_timeout": max(1, round(bound)),
            "options": f"-c statement_timeout={round(bound * 1000)}",
        }
    if kind == "mysql":
        return {"connect_timeout": max(1, round(bound)), "read_timeout": max(1, round(bound))}
    if kind == "sqlite":
        return {}  # a local file: no network; a lock wait is sqlite's own `timeout`
    return {}
