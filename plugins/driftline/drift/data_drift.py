"""Data drift of a validated current window against the champion's training snapshot.

Accuracy trade-off (README): Driftline decides data drift on the *full* reference and current
data with vectorised NumPy/SciPy statistics that reproduce Evidently 0.7.23's stat tests
exactly: the same automatic method per column type and size (normed Wasserstein / Jensen-Shannon
above 1000 reference rows; KS / chi-square / z below), the same default thresholds, the same
`>=` / `<` / `<=` comparisons, the same null and +-inf dropping (see `driftline.drift.stats`).
Per-column statistics agree with Evidently's to floating-point rounding (about 1e-12), so the
per-column decisions equal a full-data Evidently run except for a statistic that lands within
rounding of its threshold. Evidently stays the engine of record for people: the HTML report and
the `evidently` section of the JSON summary come from Evidently itself, run on a fixed-seed
sample of at most `drift.sample_size` rows per side with the per-column methods and thresholds
resolved on the full data. Its sampled statistics can differ slightly from the full-data ones;
the summary lists any column where the sampled report and the full-data decision disagree.
The authoritative decision is always the full-data one.

Columns: int/float features are numerical, bool/category/string features categorical (the
config's types, not Evidently's cardinality guess). A column whose current values are all null
while the reference has values counts as drifted; a column the reference has no value for
cannot be compared: it is listed as not comparable and left out of the drift share, never
reported as "no drift". If no column can be compared the check fails.

Columns left out by the config (`drift.exclude`, `drift.columns.<col>.enabled: false`) are not
tested at all and are listed as `excluded`. A column that is constant in the current window at a
value the reference also has, while the reference has several values (a month or weekday column
in a one-day window), is *constant in window*: its statistic is still computed and reported, but
it is left out of the drift share (`drift.constant_in_window: report`, the default) because any
test would call a calendar artefact drift. With `drift.constant_in_window: drift` (globally or per
column) its test decides as for any other column. A constant value the reference never had is
never "constant in window": that is a real change and its test decides.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from driftline.drift.calibrated import holm_adjust, resamples_for
from driftline.drift.column_tests import calibrated_column_drift, decide
from driftline.drift.stats import METHOD_TYPES, ColumnDrift, ColumnType, column_drift
from driftline.exceptions import DriftInputError

if TYPE_CHECKING:
    import pandas as pd

    from driftline.config.models import ModelConfig

NUMERIC_FEATURE_TYPES = frozenset({"int", "float"})


@dataclass(frozen=True)
class DriftSettings:
    """What the check compares and how: the config's `drift` section, resolved per column."""

    column_types: dict[str, ColumnType]
    method: str | None = None
    threshold: float | None = None
    columns: dict[str, tuple[str | None, float | None]] = field(default_factory=dict)
    drift_share: float = 0.3
    sample_size: int = 50_000
    seed: int = 0
    excluded: tuple[str, ...] = ()
    constant_in_window: Literal["report", "drift"] = "report"
    constant_overrides: dict[str, Literal["report", "drift"]] = field(default_factory=dict)
    decision: Literal["calibrated", "evidently"] = "calibrated"
    alpha: float = 0.05
    correction: Literal["holm", "none"] = "holm"
    resamples: int = 500

    def method_for(self, column: str) -> tuple[str | None, float | None]:
        """(method, threshold) for one column: per-column override, else the global ones.

        A global method only applies to the column types it supports (Evidently refuses e.g.
        `wasserstein` on a categorical column); other columns keep Evidently's default. A global
        threshold applies to every column, as in Evidently.
        """
        own_method, own_threshold = self.columns.get(column, (None, None))
        method = own_method or self.method
        if (
            own_method is None
            and method is not None
            and self.column_types[column] not in METHOD_TYPES[method]
        ):
            method = None
        return method, own_threshold if own_threshold is not None else self.threshold

    def constant_policy(self, column: str) -> Literal["report", "drift"]:
        return self.constant_overrides.get(column, self.constant_in_window)


def settings_from_config(config: ModelConfig, seed: int = 0) -> DriftSettings:
    """DriftSettings for a model: its features with their types, and its `drift` section."""
    drift = config.drift
    excluded = [
        f.name
        for f in config.data.features
        if f.name in drift.exclude or (f.name in drift.columns and not drift.columns[f.name].enabled)
    ]
    types: dict[str, ColumnType] = {
        f.name: "num" if f.type in NUMERIC_FEATURE_TYPES else "cat"
        for f in config.data.features
        if f.name not in excluded
    }
    return DriftSettings(
        column_types=types,
        method=drift.method,
        threshold=drift.threshold,
        columns={
            name: (c.method, c.threshold)
            for name, c in drift.columns.items()
            if name in types and (c.method is not None or c.threshold is not None)
        },
        drift_share=drift.drift_share,
        sample_size=drift.sample_size,
        seed=seed,
        excluded=tuple(excluded),
        constant_in_window=drift.constant_in_window,
        constant_overrides={
            name: c.constant_in_window
            for name, c in drift.columns.items()
            if name in types and c.constant_in_window is not None
        },
        decision=drift.decision,
        alpha=drift.alpha,
        correction=drift.correction,
        resamples=drift.resamples,
    )


def constant_in_window(reference: pd.Series, current: pd.Series, column_type: ColumnType) -> Any | None:
    """The single value of `current` when it is constant at a value `reference` has while
    `reference` varies (e.g. a month column in a one-day window); else None."""
    from driftline.drift.stats import clean_categorical, clean_numeric

    if column_type == "num":
        cur, ref = clean_numeric(current), clean_numeric(reference)
        if cur.size == 0 or ref.size == 0 or cur[0] != cur[-1] or ref[0] == ref[-1]:
            return None
        value = cur[0]
        i = int(ref.searchsorted(value))
        return value.item() if i < ref.size and ref[i] == value else None
    cur_c, ref_c = clean_categorical(current), clean_categorical(reference)
    if cur_c.empty or ref_c.empty or cur_c.nunique() != 1 or ref_c.nunique() < 2:
        return None
    value = cur_c.iloc[0]
    return value if bool((ref_c == value).any()) else None


@dataclass(frozen=True)
class DataDriftResult:
    """The full-data verdict for one current window."""

    dataset_drift: bool
    drift_share: float
    drift_share_threshold: float
    number_of_columns: int
    number_of_drifted_columns: int
    columns: dict[str, ColumnDrift]
    reference_rows: int
    current_rows: int
    not_comparable: list[str] = field(default_factory=list)
    engine: str = "driftline.drift.stats (Evidently 0.7 methods, full data)"
    excluded: list[str] = field(default_factory=list)
    constant_in_window: list[str] = field(default_factory=list)

    @property
    def drifted_columns(self) -> list[str]:
        return sorted(name for name, c in self.columns.items() if c.drifted)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["columns"] = {name: c.to_dict() for name, c in self.columns.items()}
        data["drifted_columns"] = self.drifted_columns
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataDriftResult:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["columns"] = {name: ColumnDrift.from_dict(c) for name, c in data["columns"].items()}
        return cls(**known)


def _kind(series: pd.Series) -> str:
    """A coarse dtype family for comparing two sides: numeric, bool, text or datetime."""
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.CategoricalDtype):
        return _kind(pd.Series(dtype.categories)) if len(dtype.categories) else "text"
    if pd.api.types.is_object_dtype(dtype):
        values = series.dropna()
        if values.empty:
            return "empty"
        first = values.iloc[0]
        if isinstance(first, bool):
            return "bool"
        if isinstance(first, int | float):
            return "numeric"
    return "text"


def check_inputs(reference: pd.DataFrame, current: pd.DataFrame, settings: DriftSettings) -> None:
    """Raise DriftInputError when the two sides cannot be compared column by column."""
    check_kinds(
        len(reference),
        len(current),
        {str(c): _kind(reference[c]) for c in reference.columns},
        {str(c): _kind(current[c]) for c in current.columns},
        {str(c): str(reference[c].dtype) for c in reference.columns},
        {str(c): str(current[c].dtype) for c in current.columns},
        settings,
    )


def check_kinds(
    reference_rows: int,
    current_rows: int,
    reference_kinds: dict[str, str],
    current_kinds: dict[str, str],
    reference_dtypes: dict[str, str],
    current_dtypes: dict[str, str],
    settings: DriftSettings,
) -> None:
    """check_inputs on any engine: row counts, and per column its dtype family (numeric, bool, text,
    datetime, empty) and dtype name on each side."""
    if current_rows == 0:
        raise DriftInputError(
            "the current window has 0 rows: drift cannot be evaluated (this is not 'no drift')"
        )
    if reference_rows == 0:
        raise DriftInputError("the reference data (champion's training snapshot) has 0 rows")
    if not settings.column_types:
        raise DriftInputError("no columns to compare: the model has no features")
    wanted = list(settings.column_types)
    missing_ref = [c for c in wanted if c not in reference_kinds]
    missing_cur = [c for c in wanted if c not in current_kinds]
    if missing_ref or missing_cur:
        parts = []
        if missing_ref:
            parts.append(f"missing in the reference: {missing_ref}")
        if missing_cur:
            parts.append(f"missing in the current window: {missing_cur}")
        raise DriftInputError("reference and current data have different columns; " + "; ".join(parts))
    problems = []
    for col in wanted:
        ref_kind, cur_kind = reference_kinds[col], current_kinds[col]
        if settings.column_types[col] == "num":
            for side, kind, dtype in (
                ("reference", ref_kind, reference_dtypes[col]),
                ("current", cur_kind, current_dtypes[col]),
            ):
                if kind not in ("numeric", "empty"):
                    problems.append(f"{col}: numerical feature but the {side} dtype is {dtype}")
        elif "empty" not in (ref_kind, cur_kind) and ref_kind != cur_kind:
            problems.append(
                f"{col}: reference dtype {reference_dtypes[col]} vs current dtype {current_dtypes[col]}"
            )
    if problems:
        raise DriftInputError("reference and current data have incompatible dtypes: " + "; ".join(problems))
    for col, (method, _) in settings.columns.items():
        if method is None:
            continue
        if method not in METHOD_TYPES or settings.column_types.get(col) not in METHOD_TYPES[method]:
            raise DriftInputError(
                f"drift.columns.{col}.method {method!r} does not apply to a "
                f"{'numerical' if settings.column_types.get(col) == 'num' else 'categorical'} column"
            )


def compute_data_drift(
    reference: pd.DataFrame, current: pd.DataFrame, settings: DriftSettings, workers: int | None = None
) -> DataDriftResult:
    """Per-column drift on the full data and the dataset verdict (share of drifted columns)."""
    check_inputs(reference, current, settings)
    names = list(settings.column_types)

    resamples = resamples_for(len(names), settings.alpha, settings.resamples)

    def one(name: str) -> ColumnDrift:
        method, threshold = settings.method_for(name)
        col_type = settings.column_types[name]
        if settings.decision == "calibrated":
            result = calibrated_column_drift(
                name,
                reference[name],
                current[name],
                col_type,
                method=method,
                threshold=threshold,
                alpha=settings.alpha,
                resamples=resamples,
                seed=settings.seed,
            )
        else:
            result = column_drift(
                name, reference[name], current[name], col_type, method=method, threshold=threshold
            )
        if result.status == "ok" and settings.constant_policy(name) == "report":
            value = constant_in_window(reference[name], current[name], col_type)
            if value is not None:
                return constant_verdict(result, value)
        return result

    workers = workers or min(4, os.cpu_count() or 1)
    if workers > 1 and len(names) > 1:  # sorting and searching release the GIL
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, names))
    else:
        results = [one(n) for n in names]
    engine = ENGINES[settings.decision if settings.decision == "evidently" else settings.correction]
    return dataset_verdict(results, settings, len(reference), len(current), engine)


def constant_verdict(result: ColumnDrift, value: Any) -> ColumnDrift:
    """A column constant in the current window at a value the varying reference has: reported,
    left out of the drift share (`drift.constant_in_window: report`)."""
    verdict = "would drift" if result.drifted else "would not drift"
    return replace(
        result,
        drifted=None,
        status="constant_in_window",
        reason=(
            f"constant in window: every current value is {value!r} (the reference has it among "
            f"others); left out of the drift share ({result.method} {verdict})"
        ),
    )


def dataset_verdict(
    results: list[ColumnDrift], settings: DriftSettings, reference_rows: int, current_rows: int, engine: str
) -> DataDriftResult:
    """The dataset verdict from the columns' verdicts (any engine): Holm across the columns for the
    calibrated decision, then the share of drifted columns against `drift_share`."""
    if settings.decision == "calibrated" and settings.correction == "holm":
        results = holm_columns(results)
    by_name = {r.column: r for r in results}
    comparable = [r for r in results if r.drifted is not None]
    not_comparable = sorted(r.column for r in results if r.status == "not_comparable")
    constant = sorted(r.column for r in results if r.status == "constant_in_window")
    if not comparable and not constant:
        raise DriftInputError(
            f"no column can be compared: the reference has no non-null values in {not_comparable}"
        )
    drifted = sum(1 for r in comparable if r.drifted)
    share = drifted / len(comparable) if comparable else 0.0
    return DataDriftResult(
        dataset_drift=bool(share >= settings.drift_share),
        drift_share=share,
        drift_share_threshold=settings.drift_share,
        number_of_columns=len(comparable),
        number_of_drifted_columns=drifted,
        columns=by_name,
        reference_rows=reference_rows,
        current_rows=current_rows,
        not_comparable=not_comparable,
        excluded=sorted(settings.excluded),
        constant_in_window=constant,
        engine=engine,
    )


ENGINES = {
    "evidently": "driftline.drift.stats (Evidently 0.7 methods, full data)",
    "holm": "driftline.drift.column_tests (calibrated two-sample tests; Holm across columns)",
    "none": "driftline.drift.column_tests (calibrated two-sample tests; no family correction)",
}


def holm_columns(results: list[ColumnDrift]) -> list[ColumnDrift]:
    """Holm-adjust the p-values of the columns that count (status ok) and re-decide them.

    A column then drifts when its adjusted p-value is below its level (and, for a distance, the
    distance is at least its minimum effect), so the chance that any unchanged column is called
    drifted stays at most the level whatever the number of columns and their dependence; the
    dataset decision (share of drifted columns >= drift_share) false-alarms at most that often.
    """
    family = [i for i, r in enumerate(results) if r.status == "ok" and r.p_value is not None]
    adjusted = holm_adjust([float(results[i].p_value or 0.0) for i in family])
    out = list(results)
    for i, p_adj in zip(family, adjusted, strict=True):
        r = results[i]
        assert r.method is not None and r.statistic is not None and r.threshold is not None  # noqa: S101 - set for every column in `family` above; narrows the type
        drifted = decide(r.method, p_adj, r.statistic, r.threshold, float(r.alpha or 0.05))
        out[i] = replace(r, p_adjusted=p_adj, drifted=drifted)
    return out
