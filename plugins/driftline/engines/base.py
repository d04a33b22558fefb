"""The engine interface: where a model's data steps (load, validate, drift, score) run.

`compute.engine` in a model's config picks one:

- `pandas` (default): the window in memory on the worker (`driftline.data.sources`,
  `driftline.validation.gate`, `driftline.drift.data_drift`, `driftline.inference.scoring`).
- `duckdb`: out-of-core on one worker within `compute.memory_limit_mb`, spilling to
  `compute.temp_directory` (`driftline.engines.duckdb`).
- `spark`: a Spark cluster (`driftline.engines.spark`).

Every engine reads and writes the same run-scoped parquet snapshots (`driftline.data.snapshots`),
so steps of one run may even run on different engines, and training (its own pod or process)
reads the snapshot whatever engine wrote it. Training is not an engine step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from driftline.config.models import LocalSource, ModelConfig, S3Source, SqlSource
    from driftline.data.access import SourceAccess
    from driftline.data.snapshots import SnapshotRef
    from driftline.data.windows import Window
    from driftline.drift.data_drift import DataDriftResult, DriftSettings
    from driftline.validation.report import ValidationReport


class Engine(Protocol):
    """The four data steps, on snapshots (parquet files with a manifest)."""

    name: str

    def load_window(
        self,
        source: LocalSource | S3Source | SqlSource,
        window: Window,
        config: ModelConfig,
        uri: str,
        facts: dict[str, Any],
        *,
        access: SourceAccess | None = None,
        exclude_ranges: list[tuple[str, str]] = (),  # type: ignore[assignment]
    ) -> tuple[SnapshotRef, dict[str, Any]]:
        """Read the window of `source` into a raw snapshot at `uri`'s content address; returns the
        reference and load facts (partitions, missing partitions, rows excluded per range)."""
        ...

    def validate(self, snapshot: SnapshotRef, config: ModelConfig) -> ValidationReport:
        """The model's validation gate on a snapshot."""
        ...

    def data_drift(
        self, reference: SnapshotRef, current: SnapshotRef | list[SnapshotRef], settings: DriftSettings
    ) -> DataDriftResult:
        """Data drift of the current snapshot(s) (the drift window's days) against the reference snapshot."""
        ...
