"""The `data` section: where windows are read from (local, S3, SQL), features, labels, waits."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from driftline.config.sections.base import Strict

_ENCODING_HELP = (
    "Text encoding of CSV files, e.g. cp1252 or latin-1 (default utf-8; a UTF-8 BOM is accepted); "
    "parquet files carry their own."
)


def _known_codec(value: str | None) -> str | None:
    """A text encoding Python knows (None: utf-8)."""
    if value is None:
        return value
    import codecs

    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"{value!r} is not a known text encoding (e.g. utf-8, cp1252, latin-1)") from None
    return value


class _FileFormat(Strict):
    """The file format of a local or S3 source, and the text encoding of its CSV files."""

    format: Literal["parquet", "csv"] = "parquet"
    encoding: str | None = Field(default=None, description=_ENCODING_HELP)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        return _known_codec(value)

    @model_validator(mode="after")
    def _encoding_for_csv(self) -> Self:
        if self.encoding is not None and self.format != "csv":
            raise ValueError(f"encoding applies to csv files only (format is {self.format!r})")
        return self


class LocalSource(_FileFormat):
    """Parquet or CSV files on a local or mounted path.

    `path` is a glob or a date-partition template: `{ds}` / `{date:%Y/%m/%d}` are rendered
    for every day of the window, e.g. `include/data/churn/dt={ds}/part.parquet`.
    """

    kind: Literal["local"]
    path: str = Field(min_length=1)


class S3Source(_FileFormat):
    """Parquet or CSV objects in S3, read through an Airflow AWS connection."""

    kind: Literal["s3"]
    uri: str = Field(
        pattern=r"^s3://[^/]+/.+", description="s3://bucket/key template, e.g. .../dt={ds}/*.parquet"
    )
    conn_id: str = "aws_default"


class SqlSource(Strict):
    """A table or query behind an Airflow connection; the window is pushed into the query."""

    kind: Literal["sql"]
    conn_id: str = Field(min_length=1)
    table: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
    query: str | None = Field(
        default=None, description="SELECT with :window_start and :window_end bind parameters."
    )

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self


Source = Annotated[LocalSource | S3Source | SqlSource, Field(discriminator="kind")]


class Feature(Strict):
    """One model input column and its type."""

    name: str = Field(min_length=1)
    type: Literal["int", "float", "bool", "category", "string"]
    optional: bool = Field(
        default=False,
        description="The predictions service's /score accepts null or no value for this feature (scored "
        "as missing, as batch scoring does); otherwise a missing value is a 422. Not for bool features: "
        "training turns a missing bool into false.",
    )

    @model_validator(mode="after")
    def _no_optional_bool(self) -> Feature:
        if self.optional and self.type == "bool":
            raise ValueError(
                f"feature {self.name!r}: a bool feature cannot be optional (training reads a missing bool "
                "as false, so the model never saw one missing); use type int (0/1) for a bool that may be missing"
            )
        return self


class WindowSection(Strict):
    """How much history one training run sees."""

    kind: Literal["rolling", "expanding", "since_champion"] = "rolling"
    days: int | None = Field(
        default=30, ge=1, description="Size of a rolling window (UI param window_days overrides)."
    )

    @model_validator(mode="after")
    def _days_for_rolling(self) -> WindowSection:
        if self.kind == "rolling" and self.days is None:
            raise ValueError("a rolling window needs 'days'")
        return self


class WaitSection(Strict):
    """How a run waits for its current window's data (and late labels) before loading it."""

    enabled: bool = Field(default=True, description="Wait for the data before load_current.")
    mode: Literal["deferrable", "reschedule", "poke"] = Field(
        default="deferrable",
        description="deferrable: polls in the triggerer, no worker slot; reschedule: a short task "
        "per poke; poke: one task holds a worker slot while it waits.",
    )
    timeout_minutes: int = Field(
        default=360, ge=1, description="Fail the run (naming the missing partitions) after this long."
    )
    poke_interval_seconds: int = Field(default=300, ge=1, description="Time between two checks.")
    labels_timeout_minutes: int = Field(
        default=0,
        ge=0,
        description="With data.labels: wait this long for the labels of the window (0: do not "
        "wait); after it the run goes on without them.",
    )
    freshness_query: str | None = Field(
        default=None,
        description="SQL sources: a query returning one timestamp (e.g. SELECT max(loaded_at) FROM "
        "etl_log); the data has arrived when it is at or after the window's end. Default: rows "
        "exist for every day of the window.",
    )


class DataSection(Strict):
    """Where the data lives and what its columns mean."""

    source: Source
    labels: Source | None = Field(
        default=None, description="Late-arriving labels for scored entities (concept drift)."
    )
    entity_id: str = Field(min_length=1)
    timestamp: str = Field(min_length=1)
    label: str = Field(min_length=1)
    positive_class: str | int | bool | None = Field(
        default=None,
        description="The positive label of a binary task (required for string labels; 0/1 default to 1).",
    )
    features: list[Feature] = Field(min_length=1)
    window: WindowSection = Field(default_factory=WindowSection)
    wait: WaitSection = Field(default_factory=WaitSection)
    snapshot_root: str | None = Field(
        default=None,
        description="Folder or s3:// prefix for run snapshots (default: DRIFTLINE_HOME/snapshots).",
    )

    @model_validator(mode="after")
    def _distinct_columns(self) -> DataSection:
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"features listed twice: {dupes}")
        special = {self.entity_id, self.timestamp, self.label} & set(names)
        if special:
            raise ValueError(f"entity_id/timestamp/label must not also be features: {sorted(special)}")
        if self.wait.freshness_query is not None and self.source.kind != "sql":
            raise ValueError("wait.freshness_query applies to a sql source only")
        return self
