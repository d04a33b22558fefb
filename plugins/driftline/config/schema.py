"""The JSON Schema of a model config, for editors (yaml-language-server) and docs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from driftline.config.models import ModelConfig

SCHEMA_PATH = Path("include/schema/driftline-model.schema.json")


def model_config_schema() -> dict[str, Any]:
    schema = ModelConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Driftline model config"
    return schema


def schema_text() -> str:
    return json.dumps(model_config_schema(), indent=2, sort_keys=True) + "\n"
