"""The XCom payloads passed between a pipeline's steps, defined once.

Each step returns one of these (a plain JSON-able dict at run time, so Airflow stores it as is)
and the next step reads it. Producers are typed against them; consumers that receive a value
from XCom (untyped by nature) turn it back into one with the `*_from_dict` helpers of the
producing module.

    load_current / load_training / load_labels  -> SnapshotPayload (status "raw")
    validate_current / validate_training         -> SnapshotPayload (status "validated")
    check_drift                                  -> DriftPayload
    decide_retrain                               -> the branch's task id (str)
    train                                        -> TrainingPayload
    register                                     -> RegistrationPayload
    evaluate_gate                                -> GatePayload
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

SnapshotStatus = Literal["raw", "validated", "quarantined"]


class SnapshotPayload(TypedDict):
    """A run-scoped Parquet snapshot (driftline.data.snapshots.SnapshotRef)."""

    uri: str
    rows: int
    sha256: str
    status: str
    facts: dict[str, Any]


class ChampionPayload(TypedDict):
    """The champion a drift check compared against."""

    name: str
    version: int
    run_id: str | None
    metric_name: str | None
    metric_value: float | None
    snapshot_uri: str | None
    snapshot_sha256: str | None
    trained_until: str | None
    promoted_at: str | None


class DriftPayload(TypedDict):
    """check_drift's result: the data and concept drift verdicts and where the report went."""

    champion: ChampionPayload | None
    current_uri: str
    reference_uri: str | None
    report_html: str | None
    summary_json: str | None
    data_drift: dict[str, Any]
    concept_drift: dict[str, Any]
    label_drift: NotRequired[dict[str, Any]]
    prediction_drift: NotRequired[dict[str, Any]]
    current_window: NotRequired[dict[str, Any]]
    report: NotRequired[dict[str, Any]]
    performance_estimate: NotRequired[dict[str, Any]]
    estimates_reconciled: NotRequired[list[dict[str, Any]]]


class TrainingPayload(TypedDict):
    """The train step's MLflow run and its validation metrics (training.entrypoint.TrainResult)."""

    run_id: str
    experiment_id: str
    metrics: dict[str, float]
    snapshot_uri: str
    snapshot_sha256: str
    trained_until: str
    model_uri: str
    metric_name: str
    reused: bool


class RegistrationPayload(TypedDict):
    """The model version the register step created (alias `challenger`)."""

    name: str
    version: int
    run_id: str


class ScoredVersion(TypedDict):
    version: int
    score: float | None


class GatePayload(TypedDict):
    """The evaluation gate's decision, and the promotion it made (if any).

    `decision` "ab_test": the challenger passed but ab_test is enabled, so instead of a promotion
    `experiment` holds what driftline.experiments.lifecycle.start_for_challenger did.
    """

    decision: str
    reason: str
    metric: str
    direction: str
    challenger: ScoredVersion
    champion: ScoredVersion | None
    interval: NotRequired[dict[str, Any] | None]
    positive_class: NotRequired[Any]
    promotion: dict[str, Any] | None
    # registry.approval.required: what the approval task shows and the promote step moves
    promotion_request: NotRequired[Any]
    experiment: NotRequired[dict[str, Any]]
