"""The config contract by section: one module per section of a model's YAML file (see config.models)."""

from __future__ import annotations
