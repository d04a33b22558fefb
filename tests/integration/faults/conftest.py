"""The fault-injection harness (harness.py) and the registry test helpers, importable by the tests here."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "registry"))
