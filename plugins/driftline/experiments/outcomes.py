"""Loading an A/B experiment's outcomes (`ab_test.outcomes`) for a window of dates, schema-checked.

The outcomes source is read with the same machinery as the model's data (driftline.data.sources:
local files, S3 objects, a SQL table or query; date-partition templates). Outcomes arrive late
and irregularly, so missing partitions are recorded, not errors, and a window with nothing yet is
an empty frame. A source whose schema does not match the config is a permanent error naming the
config field and the column: a missing column, a KPI / covariate / guardrail that is not numeric,
an unusable date, an outcome without an entity id.

The frame has standard column names, whatever the source calls them: `entity_id` (text, as the
prediction items' keys), `date` (UTC timestamp), `kpi` (float), `label` (as stored, when
configured), `covariate` (float, when configured), and each guardrail column under its own name
(float).
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from driftline.data.frames import NothingArrivedError, SourceSchemaError, coerce_types
from driftline.data.windows import Window

if TYPE_CHECKING:
    import pandas as pd

    from driftline.config.models import AbTestSection
    from driftline.data.access import SourceAccess

FIELD = "ab_test.outcomes"
_MISSING = re.compile(r"missing column\(s\) (\[[^\]]*\])")


class OutcomesSchemaError(SourceSchemaError):
    """The outcomes source does not have the columns or types `ab_test.outcomes` describes."""


@dataclass
class Outcomes:
    """The outcomes of one window and where they came from."""

    df: pd.DataFrame
    partitions: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    note: str = ""


def column_fields(ab: AbTestSection) -> dict[str, list[str]]:
    """{source column: [config fields naming it]} of the outcomes section."""
    o = ab.outcomes
    if o is None:
        return {}
    named = [("entity_id", o.entity_id), ("date", o.date), ("kpi", o.kpi)]
    named += [(f, c) for f, c in (("label", o.label), ("covariate", o.covariate)) if c]
    out: dict[str, list[str]] = {}
    for name, column in named:
        out.setdefault(column, []).append(f"{FIELD}.{name}")
    for column in ab.decision.guardrails:
        out.setdefault(column, []).append(f"ab_test.decision.guardrails.{column}")
    return out


def load_outcomes(
    ab: AbTestSection, start: dt.datetime, end: dt.datetime, access: SourceAccess | None = None
) -> Outcomes:
    """The outcomes dated in `[start, end)`, with standard column names (see the module docs).

    `access` reaches S3 and SQL sources (inside Airflow: driftline.hooks.sources.AirflowSourceAccess).
    """
    import pandas as pd

    from driftline.data.sources import load_window

    o = ab.outcomes
    if o is None:
        raise OutcomesSchemaError(f"{FIELD}: no outcomes source is configured")
    fields = column_fields(ab)
    columns = list(fields)
    window = Window(start=start, end=end, kind="current", days=None)
    try:
        loaded = load_window(
            o.source,
            window,
            columns,
            timestamp_col=o.date,
            allow_missing_partitions=True,
            field=f"{FIELD}.source",
            access=access,
        )
    except NothingArrivedError as exc:
        empty = pd.DataFrame({name: pd.Series(dtype=object) for name in _standard(ab)})
        return Outcomes(empty, note=f"no outcomes yet: {exc}")
    except OutcomesSchemaError:
        raise
    except SourceSchemaError as exc:
        raise _named(exc, fields) from exc
    df = loaded.df
    numeric = {o.kpi: "float", **({o.covariate: "float"} if o.covariate else {})}
    numeric.update({column: "float" for column in ab.decision.guardrails})
    problems = []
    for column, kind in numeric.items():
        if pd.api.types.is_bool_dtype(df[column].dtype):  # a yes/no KPI counts as 0/1
            df = df.assign(**{column: df[column].astype("float64")})
        try:
            df = coerce_types(df, {column: kind}, "outcomes")
        except SourceSchemaError:
            problems.append(
                f"{' / '.join(fields[column])}: column {column!r} must be numeric, found {df[column].dtype} "
                f"(e.g. {df[column].astype(str).head(3).tolist()})"
            )
    missing_ids = int(df[o.entity_id].isna().sum())
    if missing_ids:
        problems.append(
            f"{FIELD}.entity_id: {missing_ids} outcome row(s) have no {o.entity_id!r}: they cannot be joined "
            "with the assignments"
        )
    if problems:
        raise OutcomesSchemaError(f"outcomes in {loaded.partitions[:3]}: " + "; ".join(problems))
    return Outcomes(_standardise(df, ab), loaded.partitions, loaded.missing)


def _standard(ab: AbTestSection) -> list[str]:
    o = ab.outcomes
    assert o is not None  # noqa: S101 - narrows the type: callers run only for configs with an outcomes section
    names = ["entity_id", "date", "kpi"]
    names += [n for n, c in (("label", o.label), ("covariate", o.covariate)) if c]
    return names + [c for c in ab.decision.guardrails if c not in names]


def _standardise(df: pd.DataFrame, ab: AbTestSection) -> pd.DataFrame:
    import pandas as pd

    from driftline.inference.scoring import entity_strings

    o = ab.outcomes
    assert o is not None  # noqa: S101 - narrows the type: callers run only for configs with an outcomes section
    out = pd.DataFrame(
        {
            "entity_id": entity_strings(df[o.entity_id]),
            "date": df[o.date].to_numpy(),
            "kpi": df[o.kpi].astype("float64").to_numpy(),
        }
    )
    if o.label:
        out["label"] = df[o.label].to_numpy()
    if o.covariate:
        out["covariate"] = df[o.covariate].astype("float64").to_numpy()
    for column in ab.decision.guardrails:
        out[column] = df[column].astype("float64").to_numpy()
    return out


def _named(exc: SourceSchemaError, fields: dict[str, list[str]]) -> OutcomesSchemaError:
    """A schema error of the source, restated with the config fields of the missing columns."""
    text = str(exc)
    found = _MISSING.search(text)
    if found is None:
        return OutcomesSchemaError(f"{FIELD}.source: {text}")
    missing = [str(c) for c in ast.literal_eval(found.group(1))]
    named = "; ".join(
        f"{' / '.join(fields.get(c, [FIELD]))}: column {c!r} is not in the source" for c in missing
    )
    return OutcomesSchemaError(f"{named} ({text})")
