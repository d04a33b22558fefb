"""Shared constants and helpers of the data tests (imported by name: tests run in prepend mode)."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
ROWS = 200


def load_generator():
    """include/generate_churn_data.py as a module (include/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "generate_churn_data", REPO_ROOT / "include" / "generate_churn_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def utc(year: int, month: int, day: int) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=dt.UTC)
