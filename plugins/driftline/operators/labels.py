"""LoadLabelsOperator: the late-arriving labels (`data.labels`) of the run's interval, for concept drift."""

from __future__ import annotations

import logging
from typing import Any

from driftline.assets import validated_window
from driftline.config.models import ModelConfig
from driftline.exceptions import ConfigError
from driftline.operators.base import DriftlineOperator, run_identity, run_interval
from driftline.payloads import SnapshotPayload

log = logging.getLogger(__name__)


class LoadLabelsOperator(DriftlineOperator):
    """Load the labels that arrived in the run's data interval into a validated snapshot.

    Reads `data.labels` (entity id, timestamp and label columns) over the run's interval.
    Labels arrive late and irregularly, so missing partitions or an empty interval are not
    errors: the snapshot is then empty and concept drift reports "not evaluated" (no labels
    yet). A source that cannot be read (an S3 or database error, a corrupt file, a bad schema)
    is an error: the task retries, then fails. Rows whose
    entity id or label is null are dropped and counted. The snapshot is marked validated with
    those schema checks recorded, since the feature expectations do not apply to labels.
    Returns the snapshot's `SnapshotRef.to_dict()`.
    """

    ui_color = "#dff0d8"

    def __init__(self, *, model_config: ModelConfig, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", "load_labels")
        kwargs.setdefault("outlets", [validated_window(model_config.model.name, "labels")])
        super().__init__(model_config=model_config, **kwargs)

    def execute(self, context: Any) -> SnapshotPayload:
        import pandas as pd

        from driftline.data.frames import NothingArrivedError
        from driftline.data.snapshots import mark, snapshot_uri, write_snapshot
        from driftline.data.sources import load_window
        from driftline.data.windows import resolve_window
        from driftline.hooks.sources import AirflowSourceAccess

        cfg = self.model_config
        source = cfg.data.labels
        if source is None:
            raise ConfigError(f"task {self.task_id}", ["data.labels: no labels source is configured"])
        d = cfg.data
        columns = [d.entity_id, d.timestamp, d.label]
        start, end = run_interval(context)
        window = resolve_window(d.window, start, end, purpose="current")
        try:
            loaded = load_window(
                source,
                window,
                columns,
                timestamp_col=d.timestamp,
                allow_missing_partitions=True,
                field="data.labels",
                access=AirflowSourceAccess(),
            )
            df, partitions, missing = loaded.df, loaded.partitions, loaded.missing
        except NothingArrivedError as exc:
            # only "nothing has arrived yet" is tolerated; a source that cannot be read (an I/O
            # error, a corrupt file, a bad schema) raises: retried, then the task fails
            log.warning("no labels arrived for [%s, %s): %s", start, end, exc)
            df, partitions, missing = pd.DataFrame(columns=columns), [], []
        usable = df[d.entity_id].notna() & df[d.label].notna()
        dropped = int((~usable).sum())
        df = df.loc[usable.to_numpy()].reset_index(drop=True)
        ident = run_identity(context)
        facts = {
            **window.describe(),
            "window": "labels",
            "source": source.kind,
            "partitions": partitions,
            "missing_partitions": missing,
            "run_id": ident.run_id,
        }
        ref = write_snapshot(
            df, snapshot_uri(d.snapshot_root, cfg.model.name, ident.run_id, "labels_window"), facts
        )
        checks = {"columns": columns, "rows": len(df), "dropped_null_rows": dropped}
        log.info(
            "labels for [%s, %s): %d usable row(s), %d dropped with a null id or label",
            start,
            end,
            len(df),
            dropped,
        )
        return mark(ref, "validated", validation={"kind": "labels schema checks", **checks}).to_dict()
