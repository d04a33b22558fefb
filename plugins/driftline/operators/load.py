"""LoadWindowOperator: read the run's current window or its training window into a snapshot."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from driftline.assets import raw_window
from driftline.config.models import ModelConfig
from driftline.exceptions import ConfigError
from driftline.operators.base import DriftlineOperator, run_identity, run_interval, run_params
from driftline.payloads import SnapshotPayload

if TYPE_CHECKING:
    from driftline.engines.base import Engine

log = logging.getLogger(__name__)
WINDOWS = ("current", "training")


class LoadWindowOperator(DriftlineOperator):
    """Load one window of the model's source and write it as a run-scoped raw snapshot.

    :param model_config: the model's validated config.
    :param window: "current" (the run's data interval) or "training" (data.window, with the
        run param `window_days` overriding its size for one run).

    Returns `SnapshotRef.to_dict()` (status raw) whose facts hold window_start, window_end,
    window_kind, window_days, partitions and missing_partitions. A retry rewrites the same path.
    """

    template_fields = ()
    ui_color = "#dff0d8"

    def __init__(self, *, model_config: ModelConfig, window: str = "current", **kwargs: Any) -> None:
        kwargs.setdefault("task_id", f"load_{window}")
        kwargs.setdefault("outlets", [raw_window(model_config.model.name, window)])
        super().__init__(model_config=model_config, **kwargs)
        self.window = window

    def _champion_trained_until(self, data_time: Any) -> tuple[Any, dict[str, Any]]:
        """The trained_until of the champion as of the run's data time, for since_champion windows
        (None without a champion): a backfill trains on the window the live schedule would have."""
        from driftline.hooks.mlflow import MlflowHook
        from driftline.operators.drift_records import champion_for_data_time

        name = self.model_config.registered_model_name
        hook = MlflowHook(self.model_config.registry.mlflow_conn_id)
        champion, how = champion_for_data_time(hook, self.model_config, data_time)
        log.info("since_champion window: champion %s", how)
        if champion is None:
            return None, {}
        facts: dict[str, Any] = {"champion_version": champion.version}
        if champion.trained_until is None:
            facts["champion_note"] = (
                f"champion version {champion.version} of {name!r} has no trained_until tag"
            )
        return champion.trained_until, facts

    def execute(self, context: Any) -> SnapshotPayload:
        from driftline.data.snapshots import snapshot_uri, write_snapshot
        from driftline.data.sources import load_window
        from driftline.data.windows import resolve_window
        from driftline.hooks.sources import AirflowSourceAccess

        if self.window not in WINDOWS:
            raise ConfigError(
                f"task {self.task_id}", [f"window: expected one of {list(WINDOWS)}, got {self.window!r}"]
            )
        cfg = self.model_config
        start, end = run_interval(context)
        params = run_params(context)
        trained_until: Any = None
        extra: dict[str, Any] = {}
        if (
            self.window == "training"
            and cfg.data.window.kind == "since_champion"
            and params.window_days is None
        ):
            trained_until, extra = self._champion_trained_until(end)
        window = resolve_window(
            cfg.data.window,
            start,
            end,
            purpose="training" if self.window == "training" else "current",
            champion_trained_until=trained_until,
            override_days=params.window_days if self.window == "training" else None,
        )
        from driftline.engines import engine_for

        engine = engine_for(cfg)
        if engine is not None:  # out-of-core: the engine writes the snapshot, no frame in memory
            return self._load_on_engine(engine, window, context, extra)
        loaded = load_window(
            cfg.data.source,
            window,
            cfg.columns,
            timestamp_col=cfg.data.timestamp,
            feature_types={f.name: f.type for f in cfg.data.features},
            access=AirflowSourceAccess(),
        )
        df = loaded.df
        excluded: list[dict[str, Any]] = []
        if self.window == "training":
            from driftline.data import quarantine_ledger
            from driftline.data.windows import EmptyWindowError

            ranges = quarantine_ledger.quarantined_ranges(cfg.data.snapshot_root, cfg.model.name)
            df, excluded = quarantine_ledger.drop_quarantined(df, cfg.data.timestamp, ranges)
            for item in excluded:
                log.warning(
                    "left out %d row(s) of [%s, %s): that batch was quarantined by run %s",
                    item["rows"],
                    item["start"],
                    item["end"],
                    item["run_id"],
                )
            if df.empty:
                raise EmptyWindowError(
                    f"{cfg.model.name}: every row of the training window is in a quarantined range: {excluded}"
                )
        ident = run_identity(context)
        uri = snapshot_uri(cfg.data.snapshot_root, cfg.model.name, ident.run_id, f"{self.window}_window")
        facts = {
            **window.describe(),
            **extra,
            "window": self.window,
            "source": cfg.data.source.kind,
            "partitions": loaded.partitions,
            "missing_partitions": loaded.missing,
            "quarantined_excluded": excluded,
            "dag_id": ident.dag_id,
            "run_id": ident.run_id,
            "try_number": ident.try_number,
        }
        ref = write_snapshot(df, uri, facts)
        log.info(
            "loaded %s window [%s, %s) (%s): %d rows from %d partition(s)%s -> %s",
            self.window,
            facts["window_start"] or "-inf",
            facts["window_end"],
            window.kind,
            ref.rows,
            len(loaded.partitions),
            f", {len(loaded.missing)} missing day(s) tolerated" if loaded.missing else "",
            ref.uri,
        )
        return ref.to_dict()

    def _load_on_engine(
        self, engine: Engine, window: Any, context: Any, extra: dict[str, Any]
    ) -> SnapshotPayload:
        """load_window on the model's compute engine (compute.engine): same snapshot, same facts."""
        from driftline.data.snapshots import snapshot_uri
        from driftline.hooks.sources import AirflowSourceAccess

        cfg = self.model_config
        ranges: list[tuple[str, str]] = []
        if self.window == "training":
            from driftline.data import quarantine_ledger

            ranges = [
                (r.start, r.end)
                for r in quarantine_ledger.quarantined_ranges(cfg.data.snapshot_root, cfg.model.name)
            ]
        ident = run_identity(context)
        uri = snapshot_uri(cfg.data.snapshot_root, cfg.model.name, ident.run_id, f"{self.window}_window")
        facts = {
            **window.describe(),
            **extra,
            "window": self.window,
            "source": cfg.data.source.kind,
            "dag_id": ident.dag_id,
            "run_id": ident.run_id,
            "try_number": ident.try_number,
        }
        ref, loaded = engine.load_window(
            cfg.data.source, window, cfg, uri, facts, access=AirflowSourceAccess(), exclude_ranges=ranges
        )
        for item in loaded["quarantined_excluded"]:
            log.warning(
                "left out %d row(s) of [%s, %s): that range was quarantined",
                item["rows"],
                item["start"],
                item["end"],
            )
        log.info(
            "loaded %s window on the %s engine: %d rows from %d partition(s) -> %s",
            self.window,
            engine.name,
            ref.rows,
            len(loaded["partitions"]),
            ref.uri,
        )
        return ref.to_dict()
