"""Drift detection and the retrain policy.

- `stats`: fast per-column statistics reproducing Evidently 0.7's stat tests on the full data;
- `data_drift`: the dataset verdict (DataDriftResult) and input checks;
- `report`: Evidently's DataDriftPreset on a fixed-seed sample, and the artifacts;
- `concept`: the champion's live metric vs its registered one;
- `policy`: `decide_retrain`, the pure retrain decision.
"""

from __future__ import annotations
