"""Driftline's calibrated tests in Evidently's stat-test registry, so the HTML report shows them.

`register()` adds `driftline_<method>` for every method (ks, chisquare, z, wasserstein,
jensenshannon, psi, kl_div, hellinger) to `evidently.legacy.calculations.stattests.registry`. Each runs
`driftline.drift.column_tests.calibrated_column_drift` on the report's (sampled) columns and returns
Evidently's (drift score, drifted): the p-value for a test, the distance for a distance (drifted only
when it is significant at 0.05 against its null at these sizes and at least the threshold).

What the report cannot show: Holm's adjustment across columns (an Evidently stat test sees one
column) and the full-data decision (the report runs on a sample). The decision of record is
`DataDriftResult`; the report's summary lists the columns where the two differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftline.drift.stats import ColumnType

PREFIX = "driftline_"
METHODS = ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "kl_div", "hellinger")
_registered = False


def evidently_name(method: str) -> str:
    return PREFIX + method


def register() -> None:
    """Register the calibrated tests once per process (idempotent)."""
    global _registered
    if _registered:
        return
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.core import ColumnType as EvColumnType

    from driftline.drift.stats import DEFAULT_THRESHOLDS, METHOD_TYPES

    for method in METHODS:
        types = [
            EvColumnType.Numerical if t == "num" else EvColumnType.Categorical
            for t in sorted(METHOD_TYPES[method])
        ]
        test = StatTest(
            name=evidently_name(method),
            display_name=f"{method} (Driftline calibrated{' p_value' if method in ('ks', 'chisquare', 'z') else ''})",
            allowed_feature_types=types,
            default_threshold=DEFAULT_THRESHOLDS[method],
        )
        register_stattest(test, _implementation(method))
    _registered = True


def _implementation(method: str) -> Any:
    def run(
        reference_data: Any, current_data: Any, feature_type: Any, threshold: float
    ) -> tuple[float, bool]:
        from evidently.legacy.core import ColumnType as EvColumnType

        from driftline.drift.column_tests import calibrated_column_drift

        kind: ColumnType = "num" if feature_type == EvColumnType.Numerical else "cat"
        verdict = calibrated_column_drift("report", reference_data, current_data, kind, method, threshold)
        return float(verdict.statistic or 0.0), bool(verdict.drifted)

    return run
