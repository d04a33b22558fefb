"""Deprecated path: `driftline.notifiers.AlertRecordNotifier` is `driftline.alerting.callbacks.AlertRecordNotifier`.

Kept so DAG files and settings that name the old class path keep working; new code imports
from `driftline.alerting` (all alerting lives in that one package).
"""

from __future__ import annotations

from driftline.alerting.callbacks import AlertRecordNotifier

__all__ = ["AlertRecordNotifier"]
