"""Date-partition path templates: render one path per day, or find existing partitions.

Placeholders: `{ds}` (YYYY-MM-DD), `{ds_nodash}` (YYYYMMDD), `{date:<strftime>}` (e.g.
`{date:%Y/%m/%d}`), `{data_root}` and `{project_root}` (driftline.settings). Anything else
in braces is an error naming the placeholder. Glob characters (`*`, `?`, `[...]`) may appear
in the rest of the path.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from driftline.exceptions import ConfigError

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_DATE_FIELDS = {"ds", "ds_nodash"}
_GLOB_CHARS = re.compile(r"[*?\[]")
# strftime directives a partition path may use, and the text each one matches
_DIRECTIVES = {
    "Y": r"\d{4}",
    "m": r"\d{2}",
    "d": r"\d{2}",
    "y": r"\d{2}",
    "j": r"\d{3}",
    "H": r"\d{2}",
    "b": r"[A-Za-z]{3}",
    "B": r"[A-Za-z]+",
    "%": "%",
}


def _fields(template: str) -> list[str]:
    return _PLACEHOLDER.findall(template)


def _is_date_field(name: str) -> bool:
    return name in _DATE_FIELDS or name == "date" or name.startswith("date:")


def is_dated(template: str) -> bool:
    """True when the template holds a per-day placeholder ({ds}, {ds_nodash}, {date:...})."""
    return any(_is_date_field(f) for f in _fields(template))


def has_glob(path: str) -> bool:
    return bool(_GLOB_CHARS.search(path))


def check_template(template: str, field: str) -> None:
    """Raise ConfigError naming `field` when the template uses an unknown placeholder."""
    known = {"data_root", "project_root"}
    bad = [f for f in _fields(template) if not (_is_date_field(f) or f in known)]
    if bad:
        raise ConfigError(
            field,
            [
                f"unknown placeholder {{{b}}} in {template!r}: expected {{ds}}, {{ds_nodash}}, "
                "{date:%Y/%m/%d}, {data_root} or {project_root}"
                for b in bad
            ],
        )


def render_roots(template: str) -> str:
    """Replace {data_root} and {project_root}; date placeholders stay."""
    from driftline.settings import data_root, project_root

    return template.replace("{data_root}", str(data_root())).replace("{project_root}", str(project_root()))


def render_day(template: str, day: dt.date) -> str:
    """The template with every date placeholder rendered for `day`."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "ds" or name == "date":
            return day.isoformat()
        if name == "ds_nodash":
            return day.strftime("%Y%m%d")
        if name.startswith("date:"):
            return day.strftime(name[len("date:") :])
        return match.group(0)

    return _PLACEHOLDER.sub(sub, template)


def to_glob(template: str) -> str:
    """The template with every date placeholder replaced by `*` (to discover partitions)."""
    return _PLACEHOLDER.sub(lambda m: "*" if _is_date_field(m.group(1)) else m.group(0), template)


def literal_prefix(path: str) -> str:
    """The part of `path` before the first placeholder or glob character."""
    cut = len(path)
    for pattern in (_PLACEHOLDER, _GLOB_CHARS):
        found = pattern.search(path)
        if found:
            cut = min(cut, found.start())
    return path[:cut]


def _strftime_regex(fmt: str) -> str:
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            out.append(_DIRECTIVES.get(fmt[i + 1], r".+?"))
            i += 2
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    return "".join(out)


def date_parser(template: str) -> Callable[[str], dt.date | None]:
    """A function mapping a concrete path to the day it holds (or None when it does not match)."""
    parts: list[str] = []
    formats: list[str] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(_glob_regex(template[pos : match.start()]))
        name = match.group(1)
        if name in ("ds", "date"):
            fmt = "%Y-%m-%d"
        elif name == "ds_nodash":
            fmt = "%Y%m%d"
        elif name.startswith("date:"):
            fmt = name[len("date:") :]
        else:
            parts.append(re.escape(match.group(0)))
            pos = match.end()
            continue
        formats.append(fmt)
        parts.append(f"(?P<d{len(formats) - 1}>{_strftime_regex(fmt)})")
        pos = match.end()
    parts.append(_glob_regex(template[pos:]))
    regex = re.compile("^" + "".join(parts) + "$")

    def parse(path: str) -> dt.date | None:
        found = regex.match(path)
        if not found:
            return None
        days = set()
        for i, fmt in enumerate(formats):
            try:
                days.add(dt.datetime.strptime(found.group(f"d{i}"), fmt).date())
            except ValueError:
                return None
        return days.pop() if len(days) == 1 else None

    return parse


def _glob_regex(text: str) -> str:
    out = []
    for char in text:
        if char == "*":
            out.append(r"[^/]*")
        elif char == "?":
            out.append(r"[^/]")
        else:
            out.append(re.escape(char))
    return "".join(out)
