"""Config expectations -> Great Expectations 1.x expectation objects.

A config entry names an expectation in snake_case (`expect_column_values_to_not_be_null`)
with its kwargs; it maps to the GX class of the same name in CamelCase
(`gx.expectations.ExpectColumnValuesToNotBeNull`). An unknown name or bad kwargs is a
ConfigError naming the config field (and the closest known names).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from driftline.config.models import ModelConfig
from driftline.exceptions import ConfigError

Severity = Literal["fail", "warn"]
_GX_SEVERITY = {"fail": "critical", "warn": "warning"}


@dataclass(frozen=True)
class PlannedExpectation:
    """One expectation the gate runs, with where it came from and whether it fails the gate."""

    type: str
    kwargs: dict[str, Any]
    severity: Severity
    source: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def column(self) -> str | None:
        column = self.kwargs.get("column")
        return str(column) if column is not None else None


def camel(name: str) -> str:
    """expect_column_values_to_not_be_null -> ExpectColumnValuesToNotBeNull."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@cache
def known_expectations() -> dict[str, type]:
    """Every expectation class gx.expectations exports, by snake_case name."""
    import great_expectations as gx
    from great_expectations.expectations.expectation import Expectation

    found = {}
    for attr in dir(gx.expectations):
        obj = getattr(gx.expectations, attr)
        if attr.startswith("Expect") and isinstance(obj, type) and issubclass(obj, Expectation):
            found[snake(attr)] = obj
    return found


def expectation_class(name: str, field_path: str, where: str = "validation") -> type:
    """The GX class for a snake_case name; ConfigError naming `field_path` when unknown."""
    classes = known_expectations()
    if name in classes:
        return classes[name]
    from great_expectations.expectations.registry import get_expectation_impl

    try:  # custom expectations registered by a plugin
        return get_expectation_impl(name)
    except Exception:
        close = difflib.get_close_matches(name, list(classes), n=3)
        hint = f"; did you mean {close}?" if close else ""
        raise ConfigError(
            where, [f"{field_path}: unknown Great Expectations expectation {name!r}{hint}"]
        ) from None


def build(planned: PlannedExpectation, where: str = "validation") -> Any:
    """The GX expectation object for one planned expectation."""
    cls = expectation_class(planned.type, f"{planned.source}.type", where)
    meta = {**planned.meta, "driftline_source": planned.source, "driftline_severity": planned.severity}
    try:
        return cls(**planned.kwargs, meta=meta, severity=_GX_SEVERITY[planned.severity])
    except Exception as exc:  # pydantic (v1 API inside GX) validation errors
        message = " ".join(str(exc).split())
        raise ConfigError(
            where, [f"{planned.source}.kwargs: invalid for {planned.type}: {message}"]
        ) from None


def from_config(config: ModelConfig) -> list[PlannedExpectation]:
    """validation.expectations, then validation.suite's expectations, then min_rows."""
    planned = [
        PlannedExpectation(e.type, dict(e.kwargs), e.severity, f"validation.expectations[{i}]")
        for i, e in enumerate(config.validation.expectations)
    ]
    if config.validation.suite:
        planned.extend(from_suite_file(config.validation.suite))
    planned.append(
        PlannedExpectation(
            "expect_table_row_count_to_be_between",
            {"min_value": config.validation.min_rows, "max_value": None},
            "fail",
            "validation.min_rows",
        )
    )
    return planned


def suite_path(path: str) -> Path:
    from driftline.settings import project_root

    candidate = Path(path)
    return candidate if candidate.is_absolute() else project_root() / candidate


def read_suite_items(path: str) -> tuple[Path, str, list[Any]]:
    """The suite file, the config location naming it, and its raw `expectations` list.

    A file that cannot be read, is not JSON or has no `expectations` list is a ConfigError.
    """
    file = suite_path(path)
    where = f"validation.suite ({file})"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(where, [f"cannot read the suite file: {exc.strerror or exc}"]) from exc
    except ValueError as exc:
        raise ConfigError(where, [f"not valid JSON: {exc}"]) from exc
    items = data.get("expectations") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ConfigError(where, ["expected a JSON object with an 'expectations' list"])
    return file, where, items


def from_suite_file(path: str) -> list[PlannedExpectation]:
    """The expectations of a GX suite JSON file (GX 1.x `type` or legacy `expectation_type`).

    Severity: `meta.severity` ("warn"/"fail") or GX's `severity` ("warning"/"info" warn,
    "critical" fails); default fail.
    """
    _file, where, items = read_suite_items(path)
    planned = []
    for i, item in enumerate(items):
        name = item.get("type") or item.get("expectation_type") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise ConfigError(where, [f"expectations[{i}]: needs a 'type' (snake_case expectation name)"])
        meta = dict(item.get("meta") or {})
        level = str(meta.pop("severity", None) or item.get("severity") or "fail").lower()
        severity: Severity = "warn" if level in ("warn", "warning", "info") else "fail"
        source = f"suite:{Path(path).name}.expectations[{i}]"
        planned.append(PlannedExpectation(name, dict(item.get("kwargs") or {}), severity, source, meta))
    for item in planned:  # fail early on unknown names, naming the file
        expectation_class(item.type, f"{item.source}.type", where)
    return planned
