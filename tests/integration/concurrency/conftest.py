"""The concurrency harness (concurrency_harness.py; the fault harness is harness.py, both on sys.path), importable by the tests here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
