"""The `inference` section: batch predictions into DynamoDB."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from driftline.config.sections.base import Strict


class InferenceSection(Strict):
    """Batch inference into DynamoDB: the run's validated current window, scored by the champion.

    Key layouts: `latest` keeps one item per entity (partition key only; a rerun of an older
    date never overwrites a newer prediction), `history` one item per entity and scored date
    (partition key + sort key holding the date the window ends; readers take the newest).
    """

    table: str = Field(pattern=r"^[A-Za-z0-9_.\-]{3,255}$", description="DynamoDB table name.")
    layout: Literal["latest", "history"] = "latest"
    partition_key: str = Field(default="entity_id", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    sort_key: str = Field(
        default="scored_for",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$",
        description="Sort key attribute of the `history` layout (the window's end date); unused by `latest`.",
    )
    ttl_days: int | None = Field(
        default=None,
        ge=1,
        description="Items expire this long after `ttl_from` (their write time by default); none: never.",
    )
    ttl_from: Literal["write_time", "data_time"] = Field(
        default="write_time",
        description=(
            "What `ttl_days` counts from: `write_time` (the run's scored-at time, so a backfilled item "
            "lives ttl_days from when it was written) or `data_time` (the scored window's end: a backfill "
            "older than ttl_days writes items that are already expired)."
        ),
    )
    ttl_attribute: str = Field(default="expires_at", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    create_if_missing: bool = Field(
        default=True, description="Create the table (on-demand, configured keys, TTL) when it does not exist."
    )
    mode: Literal["upsert", "snapshot"] = Field(
        default="upsert",
        description="`upsert`: BatchWriteItem into the table. `snapshot`: a full load per run, written as "
        "DynamoDB JSON to `export_uri` and imported (ImportTable) into a new table per run; `table` then "
        "holds only the pointer to the current one.",
    )
    export_uri: str | None = Field(
        default=None,
        pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$",
        description="Snapshot mode: the s3://bucket/prefix the scorer writes DynamoDB JSON (gzip) under.",
    )
    export_conn_id: str | None = Field(
        default=None,
        min_length=1,
        description="Snapshot mode: Airflow AWS connection for S3 (default: conn_id).",
    )
    retention_hours: float = Field(
        default=48, ge=0, description="Snapshot mode: a replaced per-run table is dropped this long after."
    )
    import_poll_s: int = Field(
        default=30, ge=1, le=3600, description="Snapshot mode: DescribeImport interval."
    )
    import_timeout_min: int = Field(
        default=360, ge=1, description="Snapshot mode: how long the deferred task waits for the import."
    )
    chunk_rows: int = Field(default=50_000, ge=100, le=5_000_000, description="Rows scored per chunk.")
    writers: int = Field(default=8, ge=1, le=64, description="Parallel BatchWriteItem threads.")
    max_attempts: int = Field(default=10, ge=1, le=50, description="Tries per batch before giving up.")
    lock_wait_min: int = Field(
        default=60,
        ge=1,
        le=1440,
        description=(
            "Upsert runs of one model write one at a time (the scoring lock, docs/concepts/concurrency.md): "
            "how long a run waits for the lock before failing (retryably)."
        ),
    )
    window: Literal["current"] = Field(
        default="current",
        description="What is scored: `current` = the run's validated data interval (latest row per entity).",
    )
    conn_id: str = Field(default="aws_default", min_length=1, description="Airflow AWS connection id.")

    @model_validator(mode="after")
    def _distinct_keys(self) -> InferenceSection:
        if self.layout == "history" and self.sort_key == self.partition_key:
            raise ValueError("sort_key must differ from partition_key")
        if self.mode == "snapshot" and self.export_uri is None:
            raise ValueError(
                "mode 'snapshot' needs export_uri (the s3://bucket/prefix ImportTable reads from)"
            )
        return self
