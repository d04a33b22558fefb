"""ValidateSnapshotOperator: the Great Expectations gate between loading and everything else."""

from __future__ import annotations

import json
import logging
from typing import Any

from driftline.assets import validated_window
from driftline.config.models import ModelConfig
from driftline.exceptions import SnapshotError, ValidationFailedError
from driftline.operators.base import DriftlineOperator, run_identity
from driftline.payloads import SnapshotPayload

log = logging.getLogger(__name__)


def _as_ref(snapshot: Any, task_id: str) -> Any:
    from driftline.data.snapshots import SnapshotRef

    if isinstance(snapshot, SnapshotRef):
        return snapshot
    if isinstance(snapshot, str):
        try:
            snapshot = json.loads(snapshot)
        except ValueError as exc:
            raise SnapshotError(
                f"{task_id}: snapshot must be a SnapshotRef dict, got the string {snapshot!r}"
            ) from exc
    if not isinstance(snapshot, dict) or "uri" not in snapshot:
        raise SnapshotError(
            f"{task_id}: snapshot must be a SnapshotRef dict with 'uri' (e.g. load.output), got {snapshot!r}"
        )
    return SnapshotRef.from_dict(snapshot)


class ValidateSnapshotOperator(DriftlineOperator):
    """Validate a raw snapshot: pass -> status validated; fail -> quarantine, alert, fail the task.

    :param model_config: the model's validated config.
    :param snapshot: the load task's SnapshotRef dict, usually `load.output` (templated).
    :param window: "current" or "training" (names the output asset).

    Returns the validated `SnapshotRef.to_dict()`; its facts carry `validation` (a small
    summary) and `validation_result` (the full result JSON beside the snapshot).
    """

    template_fields = ("snapshot",)
    ui_color = "#fcf8e3"

    def __init__(
        self, *, model_config: ModelConfig, snapshot: Any, window: str = "current", **kwargs: Any
    ) -> None:
        kwargs.setdefault("task_id", f"validate_{window}")
        kwargs.setdefault("outlets", [validated_window(model_config.model.name, window)])
        super().__init__(model_config=model_config, **kwargs)
        self.snapshot = snapshot
        self.window = window

    def execute(self, context: Any) -> SnapshotPayload:
        from driftline.data.snapshots import mark, read_manifest, read_snapshot
        from driftline.validation.gate import quarantine_failed_batch, validate_frame
        from driftline.validation.results import write_result

        cfg = self.model_config
        given = _as_ref(self.snapshot, self.task_id)
        try:
            ref = read_manifest(given.uri)
        except SnapshotError:
            self._resume_quarantine(given)  # raises ValidationFailedError when an earlier try moved it
            raise
        if ref.sha256 != given.sha256:
            raise SnapshotError(
                f"snapshot {given.uri} is not the data this step was handed "
                f"(sha256 {ref.sha256[:12]} != {given.sha256[:12]})"
            )
        if ref.status == "validated" and "validation" in ref.facts:  # a retry after the gate passed
            log.info("snapshot %s is already validated; returning it unchanged", ref.uri)
            return ref.to_dict()
        from driftline.engines import engine_for

        engine = engine_for(cfg)
        df = read_snapshot(ref.uri, require="raw", sha256=given.sha256) if engine is None else None
        ident = run_identity(context)
        if not cfg.validation.enabled:
            log.warning("validation.enabled is false for %s: %s passes unchecked", cfg.model.name, ref.uri)
            return mark(ref, "validated", validation={"enabled": False, "success": True}).to_dict()

        # on an out-of-core engine GX runs its own execution engine there (compute.engine)
        report = validate_frame(df, cfg) if engine is None else engine.validate(given, cfg)
        result = {
            **report.to_dict(),
            "snapshot": ref.uri,
            "window": self.window,
            "run": {
                "dag_id": ident.dag_id,
                "run_id": ident.run_id,
                "task_id": ident.task_id,
                "try": ident.try_number,
            },
        }
        summary = report.summary()
        if report.success:
            result_path = write_result(ref.uri, result)
            validated = mark(ref, "validated", validation=summary, validation_result=result_path)
            if self.window == "current":
                self._release_range(ref)
            log.info(
                "validation passed for %s: %s/%s checks, %d warning(s); result %s",
                ref.uri,
                summary["passed"],
                summary["evaluated"],
                summary["warned"],
                result_path,
            )
            return validated.to_dict()

        from driftline.data.snapshots import quarantine_uri

        lines = report.failure_lines()
        message = (
            f"{cfg.model.name}: the {self.window} window failed validation ({len(lines)} failing check(s)); "
            f"the snapshot is quarantined at {quarantine_uri(ref)}:\n  - " + "\n  - ".join(lines)
        )
        if self.window == "training":
            # met under the real scheduler: a backfill whose window held a day no run had scored
            message += (
                "\nOnly days rejected as a run's current window are left out of training windows (the "
                "quarantine ledger): a bad day of this window that no run has scored yet stays in every "
                "later window. Run the pipeline for that day (its validation quarantines it), then clear "
                "this run from load_training; or fix the data upstream."
            )
        result["message"] = message
        quarantine_failed_batch(ref, result, cfg, window=self.window, message=message)
        error = ValidationFailedError(message)
        error.alert_recorded = True  # the failure callback's generic record would repeat this one
        raise error

    def _resume_quarantine(self, given: Any) -> None:
        """An earlier try moved this batch to quarantine and died: finish ledger, move and alert, then fail."""
        from driftline.data.snapshots import quarantine_uri, read_bytes, read_manifest
        from driftline.validation.gate import quarantine_failed_batch

        target = quarantine_uri(given)
        try:
            moved = read_manifest(target)
            result = json.loads(read_bytes(target[: -len(".parquet")] + ".validation.json"))
        except (SnapshotError, ValueError):
            return
        if moved.sha256 != given.sha256 or "message" not in result:
            return
        log.info("snapshot %s was quarantined by an earlier try; finishing that quarantine", given.uri)
        quarantine_failed_batch(
            given, result, self.model_config, window=self.window, message=result["message"]
        )
        raise ValidationFailedError(result["message"])

    def _release_range(self, ref: Any) -> None:
        from driftline.data import quarantine_ledger

        start, end = ref.facts.get("window_start"), ref.facts.get("window_end")
        cfg = self.model_config
        if start and end and quarantine_ledger.release(cfg.data.snapshot_root, cfg.model.name, start, end):
            log.info("quarantine ledger: [%s, %s) validated now and is released", start, end)
