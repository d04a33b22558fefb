"""The drift step on an out-of-core engine: one function the drift operator calls (operators stay thin).

On `compute.engine: duckdb` the drift operator never holds the windows in memory:

- data drift (the decision that triggers retraining) runs on the engine over the FULL current
  window and the champion's full training snapshot (`Engine.data_drift`: aggregates, either
  `drift.decision`); the reference snapshot's manifest and hash are checked a block at a time;
- `drift.current_window_days` beyond the run's interval: the earlier days are loaded by the
  engine into a snapshot next to the current one (quarantined ranges left out), and drift runs on
  both snapshots together;
- the steps that need rows in memory (label, prediction and concept drift, the sampled Evidently
  report) get a fixed-seed reservoir sample of at most `drift.sample_size` rows per side, read by
  DuckDB; their payloads say so (`sampled_rows`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from driftline.config.models import ModelConfig
    from driftline.data.access import SourceAccess
    from driftline.data.snapshots import SnapshotRef
    from driftline.drift.data_drift import DataDriftResult
    from driftline.engines.base import Engine

log = logging.getLogger(__name__)


@dataclass
class EngineDrift:
    """What the drift operator needs from the engine."""

    current_sample: pd.DataFrame
    reference_sample: pd.DataFrame | None
    window: dict[str, Any]
    data_drift: dict[str, Any]
    result: DataDriftResult | None = None
    settings: Any = None  # DriftSettings when evaluated
    sampled_rows: dict[str, int] = field(default_factory=dict)


def sample(engine: Engine, refs: list[SnapshotRef], rows: int, seed: int) -> pd.DataFrame:
    """A fixed-seed reservoir sample of at most `rows` rows of the snapshots together."""
    from driftline.engines.duckdb import connect, literal, register_snapshot_store, snapshot_path

    compute = engine.compute  # type: ignore[attr-defined]
    con = connect(compute)
    try:
        for ref in refs:
            register_snapshot_store(con, ref.uri)
        files = "[" + ", ".join(literal(snapshot_path(r.uri)) for r in refs) + "]"
        frame: pd.DataFrame = con.execute(
            f"SELECT * FROM read_parquet({files}, union_by_name = true) "
            f"USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE ({int(seed)})"
        ).df()
        return frame
    finally:
        con.close()


def drift_on_engine(
    engine: Engine,
    config: ModelConfig,
    current: SnapshotRef,
    reference_uri: str | None,
    reference_sha256: str | None,
    interval: tuple[dt.datetime, dt.datetime],
    access: SourceAccess | None = None,
    reference_problem: str = "",
) -> EngineDrift:
    """Data drift of the run's window against the champion's snapshot on `engine`, and the samples."""
    from driftline.data.snapshots import verify_snapshot_file
    from driftline.drift.data_drift import settings_from_config
    from driftline.drift.policy import ReferenceUnreadableError
    from driftline.exceptions import SnapshotError

    start, end = interval
    currents, window = _current_window(engine, config, current, start, end, access)
    size = config.drift.sample_size
    cur_sample = sample(engine, currents, size, 0)
    if not reference_uri:
        return EngineDrift(
            cur_sample, None, window, {"evaluated": False, "reason": reference_problem},
            sampled_rows={"current": len(cur_sample)},
        )  # fmt: skip
    try:
        reference = verify_snapshot_file(reference_uri, sha256=reference_sha256 or None)
    except SnapshotError as exc:  # "could not read" is never "not evaluated": retry, then fail
        raise ReferenceUnreadableError(
            f"the reference snapshot {reference_uri} cannot be read: {exc}"
        ) from exc
    settings = settings_from_config(config)
    result = engine.data_drift(reference, currents if len(currents) > 1 else currents[0], settings)
    ref_sample = sample(engine, [reference], size, 1)
    log.info(
        "Data drift on the %s engine: %d/%d columns drifted, share %.3f (dataset drift at >= %s): %s; "
        "drifted %s; reference %d rows, current %d rows",
        engine.name,
        result.number_of_drifted_columns,
        result.number_of_columns,
        result.drift_share,
        result.drift_share_threshold,
        result.dataset_drift,
        result.drifted_columns,
        result.reference_rows,
        result.current_rows,
    )
    sampled = {"current": len(cur_sample), "reference": len(ref_sample)}
    return EngineDrift(
        cur_sample,
        ref_sample,
        window,
        {"evaluated": True, **result.to_dict(), "sampled_rows": sampled},
        result,
        settings,
        sampled,
    )


def _current_window(
    engine: Engine,
    config: ModelConfig,
    current: SnapshotRef,
    start: dt.datetime,
    end: dt.datetime,
    access: SourceAccess | None,
) -> tuple[list[SnapshotRef], dict[str, Any]]:
    """The run's snapshot, plus the earlier days of `drift.current_window_days` loaded by the engine."""
    from driftline.data import quarantine_ledger
    from driftline.data.snapshots import verify_snapshot_file
    from driftline.data.windows import Window

    ref = verify_snapshot_file(current.uri, sha256=current.sha256 or None)
    days = config.drift.current_window_days
    facts: dict[str, Any] = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "days": days,
        "rows": ref.rows,
        "earlier_partitions": [],
        "missing_days": [],
        "quarantined_excluded": [],
        "engine": engine.name,
    }
    drift_start = end - dt.timedelta(days=days) if days else start
    if drift_start >= start:
        return [ref], facts
    earlier = Window(drift_start, start, "rolling", days, {"purpose": "drift current window"})
    ranges = [
        (r.start, r.end)
        for r in quarantine_ledger.quarantined_ranges(config.data.snapshot_root, config.model.name)
    ]
    uri = current.uri.rsplit("/", 1)[0] + "/drift_earlier_days"
    earlier_ref, loaded = engine.load_window(
        config.data.source, earlier, config, uri, {"purpose": "drift current window"},
        access=access, exclude_ranges=ranges,
    )  # fmt: skip
    facts.update(
        start=drift_start.isoformat(),
        rows=ref.rows + earlier_ref.rows,
        earlier_partitions=loaded["partitions"],
        missing_days=loaded["missing_partitions"],
        quarantined_excluded=loaded["quarantined_excluded"],
    )
    return [ref, earlier_ref], facts
