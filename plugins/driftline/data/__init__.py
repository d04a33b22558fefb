"""Data access: windows, sources and run-scoped snapshots."""

from __future__ import annotations
