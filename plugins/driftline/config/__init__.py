"""The config contract (models), its loader and its JSON Schema."""

from __future__ import annotations

from driftline.config.loader import LoadedConfigs, load_config, load_folder
from driftline.config.models import ModelConfig

__all__ = ["LoadedConfigs", "ModelConfig", "load_config", "load_folder"]
