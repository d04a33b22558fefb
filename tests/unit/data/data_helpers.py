"""Shared constants and helpers of the data tests (imported by name: tests run in prepend mode)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
ROWS = 200


def utc(year: int, month: int, day: int) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=dt.UTC)
