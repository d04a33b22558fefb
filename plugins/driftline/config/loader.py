"""Read model configs: safe YAML, shared defaults merged underneath, every error at once.

Every problem is reported as `<file>: <field.path>: <what is wrong> (got <value>)`, and a
file's problems are all collected before `ConfigError` is raised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from driftline.config.models import NOT_SUPPORTED_YET, ModelConfig
from driftline.exceptions import ConfigError

DEFAULTS_FILE = "_defaults.yaml"
# libyaml's safe loader (same rules as yaml.safe_load, several times faster) when PyYAML has it.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SECRET_KEY = re.compile(
    r"(password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)", re.IGNORECASE
)
# Keys whose *names* contain a secret-looking word but only ever point at a secret store.
_SECRET_REFERENCE_KEYS = {"mlflow_secret", "image_pull_secrets"}


@dataclass
class LoadedConfigs:
    """The result of loading a folder: good configs by file, and the errors of bad files."""

    configs: dict[Path, ModelConfig] = field(default_factory=dict)
    errors: dict[Path, ConfigError] = field(default_factory=dict)


def config_files(folder: Path) -> list[Path]:
    """Model config files in `folder`: *.yaml / *.yml, not starting with `_` or `.`."""
    files = [*folder.glob("*.yaml"), *folder.glob("*.yml")]
    return sorted(p for p in files if not p.name.startswith(("_", ".")))


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse one YAML mapping with `yaml.safe_load`; errors name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read file: {exc.strerror or exc}"]) from exc
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)  # a safe loader: plain YAML only, no tags
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "constructor for the tag" in problem:
            problem += " (only plain YAML is accepted: no tags such as !!python/object)"
        raise ConfigError(str(path), [f"invalid YAML{where}: {problem}"]) from exc
    if data is None:
        raise ConfigError(
            str(path), ["file is empty: expected a mapping with at least 'model', 'data' and 'training'"]
        )
    if not isinstance(data, dict):
        raise ConfigError(str(path), [f"expected a mapping at the top level, got {type(data).__name__}"])
    return data


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `override` onto `base`: mappings merge key by key, anything else replaces."""
    merged: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _secret_keys(data: Any, prefix: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(key, str) and key not in _SECRET_REFERENCE_KEYS and _SECRET_KEY.search(key):
                found.append(path)
            found.extend(_secret_keys(value, path))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found.extend(_secret_keys(item, f"{prefix}[{i}]"))
    return found


def _field_path(loc: Iterable[Any]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in {"local", "s3", "sql"} and path.endswith(("source", "labels")):
            continue  # the discriminated-union tag, already implied by `kind`
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


_PATTERN_HINTS = {
    "model.name": "must start with a lower-case letter and hold only lower-case letters, digits and "
    "underscores (at most 63): it becomes part of the DAG ids",
}


def _describe(error: Any, path: str) -> str:
    kind = error["type"]
    msg = error["msg"]
    if kind == "string_pattern_mismatch":
        return _PATTERN_HINTS.get(path, f"does not match the pattern {error.get('ctx', {}).get('pattern')!r}")
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; see `driftline schema` for the fields)"
    if kind == "missing":
        return "required field is missing"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if kind == "union_tag_invalid":
        return f"unknown source kind: expected one of {error.get('ctx', {}).get('expected_tags', 'local, s3, sql')}"
    return str(msg)


def format_validation_error(exc: ValidationError, skip: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Turn a pydantic error into one `field: problem (got value)` line per problem."""
    problems = []
    for error in exc.errors(include_url=False):
        where = _field_path(error["loc"])
        if where in skip:
            continue
        line = f"{where}: {_describe(error, where)}"
        if error["type"] not in {"missing", "extra_forbidden"} and "input" in error:
            value = error["input"]
            if not isinstance(value, dict | list) or len(repr(value)) < 80:
                line += f" (got {value!r})"
        elif error["type"] == "extra_forbidden":
            line += f" (got {error['input']!r})" if len(repr(error.get("input"))) < 80 else ""
        problems.append(line)
    return problems


def load_config(path: Path | str, defaults: Mapping[str, Any] | None = None) -> ModelConfig:
    """Load and validate one model config, with `defaults` merged underneath.

    Raises ConfigError listing every problem in the file.
    """
    path = Path(path)
    raw = read_yaml(path)
    secrets = _secret_keys(raw)
    problems = [
        f"{key}: secrets must not live in a config file: store them in an Airflow connection "
        "or variable and refer to it by id (e.g. conn_id)"
        for key in secrets
    ]
    problems += [
        f"{section}: not supported yet in Driftline {_version()}: remove this section "
        "(it is reserved for a later release and would otherwise be ignored)"
        for section in NOT_SUPPORTED_YET
        if section in raw
    ]
    try:
        config = ModelConfig.model_validate(deep_merge(defaults or {}, raw))
    except ValidationError as exc:
        problems.extend(format_validation_error(exc, skip=set(secrets)))
    if problems:
        raise ConfigError(str(path), problems)
    return config


def load_defaults(folder: Path) -> dict[str, Any]:
    """The shared defaults file of a config folder, or an empty mapping."""
    path = folder / DEFAULTS_FILE
    if not path.exists():
        return {}
    data = read_yaml(path)
    secret = _secret_keys(data)
    if secret:
        raise ConfigError(str(path), [f"{key}: secrets must not live in a config file" for key in secret])
    return data


def load_folder(folder: Path | str, only_model: str | None = None) -> LoadedConfigs:
    """Load every config of a folder; one bad file never hides the others.

    Duplicate model names across files are errors for every file but the first.
    With `only_model`, files whose stem differs are skipped unless their model name matches
    (a cheap path for a worker that needs one model's DAGs).
    """
    from driftline.config import cache

    folder = Path(folder)
    result = LoadedConfigs()
    defaults_path = folder / DEFAULTS_FILE
    defaults_bytes = defaults_path.read_bytes() if defaults_path.exists() else b""
    try:
        defaults = load_defaults(folder)
    except ConfigError as exc:
        for file in config_files(folder):
            result.errors[file] = ConfigError(str(file), [f"shared defaults are invalid: {exc}"])
        return result
    seen: dict[str, Path] = {}
    for file in config_files(folder):
        if only_model is not None and file.stem != only_model:
            continue
        try:
            key = cache.cache_key(file.read_bytes(), defaults_bytes)
        except OSError:
            key = None
        config = cache.get(key) if key else None
        if config is None:
            try:
                config = load_config(file, defaults)
            except ConfigError as exc:
                result.errors[file] = exc
                continue
            if key:
                cache.put(key, config)
        name = config.model.name
        if name in seen:
            result.errors[file] = ConfigError(
                str(file),
                [f"model.name: {name!r} is already defined by {seen[name].name}: model names must be unique"],
            )
            continue
        seen[name] = file
        result.configs[file] = config
    return result


def _version() -> str:
    from driftline import __version__

    return __version__
