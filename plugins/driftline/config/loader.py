"""Read model configs: safe YAML, shared defaults merged underneath, every error at once.

Every problem is reported as `<file>: <field.path>: <what is wrong> (got <value>)`, and a
file's problems are all collected before `ConfigError` is raised.

A config file is untrusted input: whatever bytes it holds, reading it ends in a config or a
`ConfigError` naming the file, quickly. Before YAML builds any object the file must be a
regular file of at most `MAX_FILE_BYTES`, UTF-8 text (a UTF-8 BOM is allowed; UTF-16/32 and
binary files are refused by name), and its YAML event stream (libyaml, streamed, no recursion)
must hold exactly one document, at most `MAX_DEPTH` nested mappings/sequences and at most
`MAX_NODES` nodes once every alias is expanded (so "billion laughs" alias bombs are refused
before they expand) and no alias pointing into its own anchor (a recursive structure).
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from driftline.config.models import NOT_SUPPORTED_YET, ModelConfig
from driftline.exceptions import ConfigError

DEFAULTS_FILE = "_defaults.yaml"
# Limits for untrusted config files (the example config is ~2.5 KB, ~300 nodes, depth 5).
MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_NODES = 5_000
MAX_PROBLEMS = 50  # more problems than this are summarised as "... and N more"
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


def display_path(path: Path | str) -> str:
    """`path` as printable text (a file name that is not valid UTF-8 keeps its bytes as escapes)."""
    return str(path).encode("utf-8", "backslashreplace").decode("utf-8")


def read_config_bytes(path: Path) -> bytes:
    """The bytes of one config file: a regular file of at most MAX_FILE_BYTES, else ConfigError."""
    where = display_path(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(where, ["not a regular file: a config is a YAML file"])
        if info.st_size > MAX_FILE_BYTES:
            raise ConfigError(where, [_too_big(info.st_size)])
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # bounded even if the file grows meanwhile
    except OSError as exc:
        raise ConfigError(where, [f"cannot read file: {exc.strerror or exc}"]) from exc
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(where, [_too_big(len(data))])
    return data


def _too_big(size: int) -> str:
    return f"file is {size:,} bytes: a config may be at most {MAX_FILE_BYTES:,} bytes"


# model name -> the file it was last loaded from, so a run-time config error can name the file
_LOADED_PATHS: dict[str, Path] = {}


def loaded_path(model: str) -> Path | None:
    """The file model `model`'s config was last loaded from in this process, if any."""
    return _LOADED_PATHS.get(model)


class UnreadableConfig(ValueError):
    """The bytes of a config file are not a config: the message says what they are instead."""


_WIDE_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}


def decode_config(data: bytes) -> str:
    """UTF-8 text of a config file; raises UnreadableConfig saying what the bytes are instead."""
    for bom, name in _WIDE_BOMS.items():  # UTF-32 LE starts like UTF-16 LE: checked first
        if data.startswith(bom):
            raise UnreadableConfig(f"file is encoded as {name}: save it as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise UnreadableConfig(
            f"file holds binary data (a NUL byte at offset {nul}): a config is UTF-8 YAML text"
        )
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UnreadableConfig(
            f"file is not valid UTF-8: byte 0x{data[exc.start]:02x} at line {line} (offset {exc.start}); "
            "save it as UTF-8"
        ) from None


def _line(event: yaml.Event) -> int | str:
    """The 1-based line where a YAML event starts ("?" when the parser gives no position)."""
    mark = event.start_mark
    return mark.line + 1 if mark is not None else "?"


def check_yaml_shape(text: str) -> None:
    """Refuse YAML whose shape is hostile, from libyaml's event stream, before building objects.

    Raises ValueError on a second document, nesting deeper than MAX_DEPTH, more than MAX_NODES
    nodes with aliases expanded, or an alias to an anchor that is still open (recursion).
    Malformed YAML raises yaml.YAMLError, as the loader would.
    """
    documents = depth = 0
    nodes = 0  # nodes of the document with every alias expanded
    anchor_sizes: dict[str, int] = {}
    open_collections: list[tuple[str | None, int]] = []  # (anchor, node count when it opened)
    open_anchors: set[str] = set()
    for event in yaml.parse(text, Loader=_SAFE_LOADER):
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise UnreadableConfig(
                    f"a second YAML document starts at line {line}: a config file holds exactly one document"
                )
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            nodes += 1
            if depth > MAX_DEPTH:
                raise UnreadableConfig(f"nesting is deeper than {MAX_DEPTH} levels at line {_line(event)}")
            open_collections.append((event.anchor, nodes - 1))
            if event.anchor:
                open_anchors.add(event.anchor)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            anchor, at_open = open_collections.pop()
            if anchor:
                anchor_sizes[anchor] = nodes - at_open
                open_anchors.discard(anchor)
        elif isinstance(event, yaml.ScalarEvent):
            nodes += 1
            if event.anchor:
                anchor_sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor in open_anchors:
                raise UnreadableConfig(
                    f"alias *{event.anchor} at line {_line(event)} refers to its own "
                    "enclosing anchor: recursive structures are not allowed"
                )
            nodes += anchor_sizes.get(event.anchor or "", 1)
        if nodes > MAX_NODES:
            raise UnreadableConfig(
                f"more than {MAX_NODES:,} YAML nodes once aliases are expanded: a config is small "
                "(check for aliases that expand exponentially)"
            )


def parse_config_bytes(data: bytes, where: str) -> dict[str, Any]:
    """One YAML mapping from a config file's bytes; every problem is a ConfigError naming `where`."""
    try:
        text = decode_config(data)
        check_yaml_shape(text)
        parsed = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - _SAFE_LOADER is yaml's (C)SafeLoader: plain YAML only, no tags; a safe loader: plain YAML only, no tags
    except yaml.YAMLError as exc:
        at = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            at = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "constructor for the tag" in problem:
            problem += " (only plain YAML is accepted: no tags such as !!python/object)"
        raise ConfigError(where, [f"invalid YAML{at}: {problem}"]) from exc
    except UnreadableConfig as exc:
        raise ConfigError(where, [str(exc)]) from exc
    except Exception as exc:  # a scalar YAML resolves but cannot build (e.g. a 30th of February)
        raise ConfigError(where, [f"invalid YAML: {type(exc).__name__}: {str(exc)[:200]}"]) from exc
    if parsed is None:
        raise ConfigError(
            where, ["file is empty: expected a mapping with at least 'model', 'data' and 'training'"]
        )
    if not isinstance(parsed, dict):
        raise ConfigError(where, [f"expected a mapping at the top level, got {type(parsed).__name__}"])
    return parsed


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse one config file into a mapping; errors name the file (see the module docstring)."""
    return parse_config_bytes(read_config_bytes(path), display_path(path))


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
                shown = repr(value)
                line += f" (got {shown if len(shown) <= 200 else shown[:200] + '...'})"
        elif error["type"] == "extra_forbidden":
            line += f" (got {error['input']!r})" if len(repr(error.get("input"))) < 80 else ""
        problems.append(line)
    return problems


def load_config(
    path: Path | str, defaults: Mapping[str, Any] | None = None, data: bytes | None = None
) -> ModelConfig:
    """Load and validate one model config, with `defaults` merged underneath.

    `data` is the file's bytes when the caller has read them already (read_config_bytes).
    Raises ConfigError listing every problem in the file.
    """
    path = Path(path)
    where = display_path(path)
    raw = parse_config_bytes(read_config_bytes(path) if data is None else data, where)
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
    except Exception as exc:  # a validator tripped over a value of an unexpected type
        problems.append(f"(top level): could not be validated: {type(exc).__name__}: {str(exc)[:200]}")
    if problems:
        if len(problems) > MAX_PROBLEMS:
            problems = [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more problems"]
        raise ConfigError(where, problems)
    _LOADED_PATHS[config.model.name] = path
    return config


def load_defaults(folder: Path, data: bytes | None = None) -> dict[str, Any]:
    """The shared defaults file of a config folder, or an empty mapping (`data`: its bytes, if read)."""
    path = folder / DEFAULTS_FILE
    if data is None and not path.exists():
        return {}
    where = display_path(path)
    parsed = parse_config_bytes(read_config_bytes(path) if data is None else data, where)
    secret = _secret_keys(parsed)
    if secret:
        raise ConfigError(where, [f"{key}: secrets must not live in a config file" for key in secret])
    return parsed


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
    try:
        defaults_bytes = read_config_bytes(defaults_path) if defaults_path.exists() else b""
        defaults = load_defaults(folder, defaults_bytes) if defaults_bytes else {}
    except ConfigError as exc:
        for file in config_files(folder):
            result.errors[file] = ConfigError(display_path(file), [f"shared defaults are invalid: {exc}"])
        return result
    seen: dict[str, Path] = {}
    for file in config_files(folder):
        if only_model is not None and file.stem != only_model:
            continue
        try:
            data = read_config_bytes(file)
        except ConfigError as exc:
            result.errors[file] = exc
            continue
        key = cache.cache_key(data, defaults_bytes)
        config = cache.get(key)
        if config is None:
            try:
                config = load_config(file, defaults, data)
            except ConfigError as exc:
                result.errors[file] = exc
                continue
            cache.put(key, config)
        name = config.model.name
        if name in seen:
            result.errors[file] = ConfigError(
                display_path(file),
                [f"model.name: {name!r} is already defined by {seen[name].name}: model names must be unique"],
            )
            continue
        seen[name] = file
        _LOADED_PATHS[name] = file
        result.configs[file] = config
    return result


def _version() -> str:
    from driftline import __version__

    return __version__
