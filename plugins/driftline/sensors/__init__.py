"""Sensors: a pipeline waits for its data (and late labels) instead of failing on it."""

from __future__ import annotations
