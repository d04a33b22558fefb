"""The JSON Schemas the deploy tests validate against, as vendored by `check-jsonschema` (PyPI).

check-jsonschema ships SchemaStore's copies of the compose specification, GitHub workflow and
GitLab CI schemas (`check_jsonschema/builtin_schemas/vendor/`), so the tests need no network.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from ruamel.yaml import YAML

REPO_ROOT = Path(__file__).resolve().parents[3]
DOCKER = REPO_ROOT / "docker"


def vendored_schema(name: str) -> dict[str, Any]:
    """`name` is the file's stem under check_jsonschema/builtin_schemas/vendor/ (e.g. compose-spec)."""
    ref = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath(f"{name}.json")
    return json.loads(ref.read_text(encoding="utf-8"))


def schema_errors(document: Any, schema: dict[str, Any]) -> list[str]:
    """Every violation as `path: message`, sorted (empty when the document is valid)."""
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
    return sorted(
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(document)
    )


def load_yaml(path: Path) -> Any:
    """YAML 1.2 (ruamel, as check-jsonschema and GitHub read it): a bare `on` stays a string."""
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def load_yaml_documents(path: Path) -> list[Any]:
    docs = YAML(typ="safe", pure=True).load_all(path.read_text(encoding="utf-8"))
    return [d for d in docs if d is not None]
