"""Time-partition path templates: render one path per partition, or find existing partitions.

Placeholders: `{ds}` (YYYY-MM-DD), `{ds_nodash}` (YYYYMMDD), `{date:<strftime>}` (e.g.
`{date:%Y/%m/%d}`), `{ts:<strftime>}` (the same, read as "timestamp": e.g. `{ts:%Y-%m-%d/%H}`),
`{data_root}` and `{project_root}` (driftline.settings). Anything else in braces is an error
naming the placeholder. Glob characters (`*`, `?`, `[...]`) may appear in the rest of the path.

A template's partitions are daily, hourly (a `%H` directive) or per minute (`%M`): see
`granularity`. A schedule must fire on partition boundaries (`schedule_problem`), so every
run's data interval is a whole number of partitions.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Literal

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
    "M": r"\d{2}",
    "b": r"[A-Za-z]{3}",
    "B": r"[A-Za-z]+",
    "%": "%",
}


def _fields(template: str) -> list[str]:
    return _PLACEHOLDER.findall(template)


def _is_date_field(name: str) -> bool:
    return name in _DATE_FIELDS or name in ("date", "ts") or name.startswith(("date:", "ts:"))


def _strftime_of(name: str) -> str | None:
    """The strftime format a date placeholder renders with (None for other placeholders)."""
    if name in ("ds", "date", "ts"):
        return "%Y-%m-%d"
    if name == "ds_nodash":
        return "%Y%m%d"
    if name.startswith(("date:", "ts:")):
        return name.split(":", 1)[1]
    return None


Granularity = Literal["day", "hour", "minute"]
STEPS: dict[str, dt.timedelta] = {
    "day": dt.timedelta(days=1),
    "hour": dt.timedelta(hours=1),
    "minute": dt.timedelta(minutes=1),
}


def granularity(template: str) -> Granularity | None:
    """How finely a template partitions time: "minute" (%M), "hour" (%H), "day", or None (undated)."""
    formats = [f for f in (_strftime_of(n) for n in _fields(template)) if f is not None]
    if not formats:
        return None
    if any("%M" in f for f in formats):
        return "minute"
    if any("%H" in f for f in formats):
        return "hour"
    return "day"


# Airflow's cron presets (airflow.sdk.definitions.timetables._cron.CRON_PRESETS), as 5-field crons.
CRON_PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}


def _is_zero(field: str) -> bool:
    return field.strip().lstrip("0") == "" and field.strip() != ""


def schedule_problem(cron: str, template: str, field: str) -> str | None:
    """Why `cron` cannot drive a source partitioned by `template` (named `field`), or None when it can.

    A run's data interval runs from one fire time to the next; it must be a whole number of the
    template's partitions, so every fire time has to fall on a partition boundary: midnight UTC
    for daily partitions, a whole hour for hourly ones. Otherwise a run would read part of a
    partition that has not finished arriving (an `@hourly` run on daily files would re-read the
    day 24 times; a 03:00 cron on daily files would read the current, unfinished day).
    """
    grain = granularity(template)
    if grain is None or grain == "minute":
        return None
    expression = CRON_PRESETS.get(cron, cron)
    fields = expression.split()
    if len(fields) != 5:
        return None  # the cron validator reports malformed expressions
    minute, hour = fields[0], fields[1]
    if grain == "hour" and _is_zero(minute):
        return None
    if grain == "day" and _is_zero(minute) and _is_zero(hour):
        return None
    if grain == "day":
        fix = (
            "use an hourly partition template (e.g. '.../{date:%Y-%m-%d}/{date:%H}/*.parquet' or "
            "'{ts:%Y-%m-%d/%H}'), or a schedule that fires at 00:00 UTC (e.g. '0 0 * * MON-FRI')"
        )
        unit = "midnight UTC"
    else:
        fix = "use a partition template with minutes (%M), or a schedule that fires on the hour (minute 0)"
        unit = "a whole hour"
    return (
        f"schedule.cron {cron!r} fires at times that are not {unit}, but {field} {template!r} has "
        f"{grain}ly partitions: a run's data interval (from one fire time to the next) would cover part "
        f"of a partition; {fix}"
    ).replace("dayly", "daily")


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
                "{date:%Y/%m/%d}, {ts:%Y-%m-%d/%H}, {data_root} or {project_root}"
                for b in bad
            ],
        )


def render_roots(template: str) -> str:
    """Replace {data_root} and {project_root}; date placeholders stay."""
    from driftline.settings import data_root, project_root

    return template.replace("{data_root}", str(data_root())).replace("{project_root}", str(project_root()))


def render_day(template: str, day: dt.date) -> str:
    """The template with every date placeholder rendered for `day` (its midnight)."""
    return render_at(template, dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC))


def render_at(template: str, when: dt.datetime) -> str:
    """The template with every date placeholder rendered for the partition starting at `when` (UTC)."""
    when = when.astimezone(dt.UTC)

    def sub(match: re.Match[str]) -> str:
        fmt = _strftime_of(match.group(1))
        return match.group(0) if fmt is None else when.strftime(fmt)

    return _PLACEHOLDER.sub(sub, template)


def to_glob(template: str) -> str:
    """The template with every date directive replaced by `*` (to discover partitions).

    Literal characters of a format stay, so `{ts:%Y-%m-%d/%H}` becomes `*-*-*/*` and still
    matches across the `/` it contains.
    """

    def sub(match: re.Match[str]) -> str:
        fmt = _strftime_of(match.group(1))
        if fmt is None:
            return match.group(0)
        return re.sub(r"\*+", "*", re.sub(r"%[^%]", "*", fmt).replace("%%", "%"))

    return _PLACEHOLDER.sub(sub, template)


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
    parse = time_parser(template)

    def to_day(path: str) -> dt.date | None:
        found = parse(path)
        return None if found is None else found.date()

    return to_day


def time_parser(template: str) -> Callable[[str], dt.datetime | None]:
    """A function mapping a concrete path to the (UTC) start of the partition it holds, or None."""
    parts: list[str] = []
    formats: list[str] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(_glob_regex(template[pos : match.start()]))
        fmt_or_none = _strftime_of(match.group(1))
        if fmt_or_none is None:
            parts.append(re.escape(match.group(0)))
            pos = match.end()
            continue
        fmt = fmt_or_none
        formats.append(fmt)
        parts.append(f"(?P<d{len(formats) - 1}>{_strftime_regex(fmt)})")
        pos = match.end()
    parts.append(_glob_regex(template[pos:]))
    regex = re.compile("^" + "".join(parts) + "$")

    def parse(path: str) -> dt.datetime | None:
        found = regex.match(path)
        if not found:
            return None
        # Several placeholders may each hold part of the time ({date:%Y-%m-%d}/{date:%H}): merge
        # the fields each one parsed; two placeholders disagreeing on a field means no match.
        merged: dict[str, int] = {}
        for i, fmt in enumerate(formats):
            try:
                parsed = dt.datetime.strptime(found.group(f"d{i}"), fmt)
            except ValueError:
                return None
            for attr, directives in _FIELDS_BY_ATTR.items():
                if any(d in fmt for d in directives):
                    value = getattr(parsed, attr)
                    if merged.setdefault(attr, value) != value:
                        return None
        if not {"year", "month", "day"} <= set(merged):
            return None
        try:
            return dt.datetime(tzinfo=dt.UTC, **{"hour": 0, "minute": 0, **merged})
        except (TypeError, ValueError):
            return None

    return parse


# which datetime attribute each strftime directive sets (%j, %b and %y imply the day/month/year)
_FIELDS_BY_ATTR: dict[str, tuple[str, ...]] = {
    "year": ("%Y", "%y"),
    "month": ("%m", "%b", "%B", "%j"),
    "day": ("%d", "%j"),
    "hour": ("%H",),
    "minute": ("%M",),
}


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
