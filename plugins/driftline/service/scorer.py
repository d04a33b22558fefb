"""The scoring hot path: posted rows -> one float matrix in the estimator's column order -> scores.

`compile_scorer(model, config, version)` runs once per champion version (at start-up and when the
alias moves), never per request. For the pipeline Driftline trains (driftline.training.estimators:
a ColumnTransformer that ordinal-encodes category/string features and passes the others through, in
front of the estimator) it reads the fitted encoder's categories into dicts and the estimator's
input order, so a request becomes a numpy matrix with no DataFrame, no dtype inference and no
ColumnTransformer. The compiled transform is checked against the pipeline's own transform on probe
rows (every known category, an unknown one, missing values) before it is used; any other model
(a `training.estimator.callable`, a pipeline of another shape, a check that differs) is scored
through `prepare_features` + the model itself, a batch at a time (`Scorer.mode == "frame"`).

Rows are checked here too, and a bad value is a 422 naming the row and the field:
- numbers must be JSON numbers and finite (NaN, Infinity, numbers past float range are refused;
  the JSON literals NaN/Infinity are refused by the parser), ints integral, bools true/false;
- category values must be categories the champion was trained with (compiled mode), strings at
  most MAX_STRING_FEATURE_CHARS; string features may take values the model never saw (encoded as
  the pipeline encodes them: unknown);
- null or absent only for features the config marks `optional: true`;
- the entity id a non-empty string of at most MAX_ENTITY_ID_BYTES bytes; no other keys.

The positive class of a binary task is `data.positive_class` (or 1 for 0/1 labels), found among
the model's `classes_` with driftline.training.metrics.resolve_positive_class: the score is that
column of predict_proba, whatever order the labels sort in.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from driftline.config.models import Feature, ModelConfig
from driftline.service.fastpredict import FastProba, compile_hgb, verified
from driftline.service.security import MAX_ENTITY_ID_BYTES, MAX_STRING_FEATURE_CHARS
from driftline.training.estimators import CATEGORICAL_TYPES

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)
MAX_ERRORS = 20
_SHOWN = 80  # characters of a refused value echoed in an error


class RowsError(ValueError):
    """Posted rows that cannot be scored: FastAPI-style 422 details, each naming its field."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
        self.errors = errors


def _shown(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= _SHOWN else value[:_SHOWN] + f"... ({len(value)} characters)"
    if isinstance(value, int | float | bool) or value is None:
        return value
    return f"<{type(value).__name__}>"


def _error(loc: Sequence[Any], msg: str, kind: str, value: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"loc": ["body", *loc], "msg": msg, "type": kind}
    if value is not None:
        out["input"] = _shown(value)
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (non-finite values are refused)")


def parse_body(raw: bytes) -> Any:
    """The JSON body; NaN/Infinity literals and invalid UTF-8 or JSON are a RowsError."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RowsError(
            [_error([], f"the body is not valid JSON: {str(exc)[:200]}", "json_invalid")]
        ) from None


@dataclass(frozen=True)
class Column:
    """One configured feature as the hot path reads it."""

    name: str
    type: str
    optional: bool
    codes: dict[str, float] | None = None  # compiled categorical: value -> code (unknown/missing below)
    unknown: float = -1.0
    missing: float = -1.0
    strict: bool = False  # refuse values not in `codes` (category features)


@dataclass
class Scored:
    predictions: list[Any]
    scores: list[float] | None
    probabilities: list[dict[str, float]] | None

    def rows(self, start: int, stop: int) -> Scored:
        return Scored(
            self.predictions[start:stop],
            None if self.scores is None else self.scores[start:stop],
            None if self.probabilities is None else self.probabilities[start:stop],
        )


@dataclass
class Scorer:
    """One champion version, compiled: `matrix(rows)` then `score(X)`."""

    model_name: str
    version: int
    model: Any
    config: ModelConfig
    mode: str  # "compiled" or "frame"
    columns: list[Column]
    order: list[int]  # estimator input column j is columns[order[j]]
    estimator: Any  # the final estimator (compiled) or the whole model (frame)
    task: str
    classes: list[Any] = field(default_factory=list)
    positive_index: int | None = None
    entity: str = ""
    feature_names_in: list[str] | None = None
    _allowed: frozenset[str] = frozenset()

    input_object: bool = False  # the estimator was fitted on an object array (feed it one)
    # predict_proba of the estimator on the float matrix without its own input checks, when
    # driftline.service.fastpredict can build one and it equals predict_proba on the probe rows
    fast: FastProba | None = None
    _names: tuple[str, ...] = ()
    _converters: tuple[Callable[[Any], Any], ...] = ()

    def __post_init__(self) -> None:
        self.entity = self.config.data.entity_id
        self._allowed = frozenset([self.entity, *(c.name for c in self.columns)])
        self._names = tuple(c.name for c in self.columns)
        self._converters = tuple(_converter(c) for c in self.columns)

    # ---- request side -------------------------------------------------------------------------
    def matrix(self, body: Any, max_rows: int) -> tuple[list[str], np.ndarray]:
        """(entity ids, float matrix in the estimator's input order) of a parsed body, or RowsError."""
        import numpy as np

        if not isinstance(body, dict):
            raise RowsError([_error([], 'expected a JSON object {"rows": [...]}', "model_type")])
        extra = [k for k in body if k != "rows"]
        if extra:
            raise RowsError(
                [_error([str(extra[0])[:_SHOWN]], "extra field not permitted", "extra_forbidden")]
            )
        rows = body.get("rows")
        if not isinstance(rows, list):
            raise RowsError([_error(["rows"], "expected a list of feature rows", "list_type")])
        if not 1 <= len(rows) <= max_rows:
            raise RowsError(
                [_error(["rows"], f"expected 1 to {max_rows} rows, got {len(rows)}", "too_long_or_short")]
            )
        width = len(self.columns)
        values: list[Any] = []
        ids: list[str] = []
        entity, allowed, names, converters = self.entity, self._allowed, self._names, self._converters
        limit = MAX_ENTITY_ID_BYTES // 4
        try:  # the fast pass: stops at the first problem, then the checking pass says what it is
            for row in rows:
                key = row[entity]
                if type(key) is not str or not key or len(key) > limit or (len(row) > len(allowed)):
                    raise _Slow
                if not allowed.issuperset(row):
                    raise _Slow
                ids.append(key)
                values.extend(
                    [convert(row.get(name)) for name, convert in zip(names, converters, strict=True)]
                )
        except (_Slow, KeyError, TypeError, ValueError, AttributeError):
            values, ids = self._checked(rows)
        X = np.asarray(values, dtype=np.float64 if self.mode == "compiled" else object).reshape(
            len(rows), width
        )
        return ids, X if self.order == list(range(width)) else X[:, self.order]

    def _checked(self, rows: list[Any]) -> tuple[list[Any], list[str]]:
        """Every row checked value by value: the values and ids, or a RowsError naming each field."""
        values: list[Any] = []
        ids: list[str] = []
        errors: list[dict[str, Any]] = []
        entity, allowed = self.entity, self._allowed
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                errors.append(_error(["rows", i], "expected an object of features", "dict_type", row))
                continue
            for key in row:
                if key not in allowed:
                    errors.append(
                        _error(["rows", i, str(key)[:_SHOWN]], "extra field not permitted", "extra_forbidden")
                    )
            key = row.get(entity)
            if not isinstance(key, str) or not key:
                errors.append(_error(["rows", i, entity], "expected a non-empty string", "string_type", key))
            elif len(key.encode()) > MAX_ENTITY_ID_BYTES:
                errors.append(
                    _error(
                        ["rows", i, entity],
                        f"at most {MAX_ENTITY_ID_BYTES} bytes (the DynamoDB key limit)",
                        "string_too_long",
                        key,
                    )
                )
            ids.append(key if isinstance(key, str) else "")
            for column in self.columns:
                value = row.get(column.name)
                try:
                    values.append(_value(column, value))
                except ValueError as exc:
                    values.append(None)
                    errors.append(_error(["rows", i, column.name], str(exc), "value_error", value))
            if len(errors) >= MAX_ERRORS:
                break
        if errors:
            raise RowsError(errors[:MAX_ERRORS])
        return values, ids

    # ---- model side -------------------------------------------------------------------------
    def score(self, X: np.ndarray) -> Scored:
        """Scores of the rows of X (the output of `matrix`, several requests concatenated)."""
        if self.fast is not None:
            return self._from_proba(self.fast(X))
        if self.mode == "compiled":
            inputs: Any = self.inputs(X)
        else:
            inputs = self._frame(X)
        return self._outputs(self.estimator, inputs)

    def inputs(self, X: np.ndarray) -> Any:
        """What the compiled estimator is given for the float matrix X."""
        if self.feature_names_in is not None:
            import pandas as pd

            return pd.DataFrame(X, columns=self.feature_names_in, copy=False)
        return X.astype(object) if self.input_object else X

    def _frame(self, X: np.ndarray) -> Any:
        """The DataFrame batch scoring would build (prepare_features of the decoded rows)."""
        import numpy as np
        import pandas as pd

        from driftline.training.estimators import prepare_features

        data: dict[str, Any] = {}
        for j, column in enumerate(self.columns):
            col = X[:, j]  # frame mode keeps the config's order
            if column.type in CATEGORICAL_TYPES:
                data[column.name] = col.tolist()
            elif column.type == "bool":
                data[column.name] = col.astype(bool)
            else:
                data[column.name] = col.astype(np.float64)
        return prepare_features(pd.DataFrame(data), self.config.data.features)

    def _outputs(self, estimator: Any, inputs: Any) -> Scored:
        if self.task == "regression" or not hasattr(estimator, "predict_proba"):
            return Scored([_scalar(v) for v in estimator.predict(inputs).tolist()], None, None)
        return self._from_proba(estimator.predict_proba(inputs))

    def _from_proba(self, proba: np.ndarray) -> Scored:
        classes = self.classes
        predictions = [classes[i] for i in proba.argmax(axis=1).tolist()]
        if self.positive_index is not None:
            return Scored(predictions, proba[:, self.positive_index].tolist(), None)
        names = [str(c) for c in classes]
        return Scored(predictions, None, [dict(zip(names, row, strict=True)) for row in proba.tolist()])


class _Slow(Exception):
    """The fast pass met something to check value by value."""


def _converter(column: Column) -> Callable[[Any], Any]:
    """The fast conversion of one column's value: the common case inline, anything else (None, a
    wrong type, a non-finite number, an unknown category) through `_value`, which raises or decides."""
    kind, slow = column.type, column
    if kind in CATEGORICAL_TYPES and column.codes is not None:
        codes = column.codes

        def category(value: Any) -> Any:
            code = codes.get(value) if type(value) is str else None
            return code if code is not None else _value(slow, value)

        return category
    if kind in ("float", "int"):
        integral = kind == "int"

        def number(value: Any) -> Any:
            if type(value) is float and value - value == 0.0 and (not integral or value.is_integer()):
                return value
            if type(value) is int and -(2**53) <= value <= 2**53:
                return float(value)
            return _value(slow, value)

        return number
    if kind == "bool":

        def boolean(value: Any) -> Any:
            if value is True:
                return 1.0
            if value is False:
                return 0.0
            return _value(slow, value)

        return boolean
    return lambda value: _value(slow, value)


def _value(column: Column, value: Any) -> Any:
    """One feature value as the float the estimator reads (frame mode: a category's string or None);
    ValueError says what is wrong."""
    kind = column.type
    if value is None:
        if not column.optional:
            raise ValueError(
                "required (null or absent only for features marked `optional: true` in the model's config)"
            )
        if kind in CATEGORICAL_TYPES:
            return column.missing if column.codes is not None else None
        return math.nan
    if kind in CATEGORICAL_TYPES:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f"expected a string ({kind} feature)")
        text = value if isinstance(value, str) else str(value)
        if len(text) > MAX_STRING_FEATURE_CHARS:
            raise ValueError(f"at most {MAX_STRING_FEATURE_CHARS} characters")
        codes = column.codes
        if codes is None:
            return text  # frame mode: the model encodes it
        code = codes.get(text)
        if code is not None:
            return code
        if column.strict:
            shown = sorted(codes)[:20]
            raise ValueError(f"unknown category {_shown(text)!r}; the champion knows {shown}")
        return column.unknown
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return 1.0 if value else 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number ({kind} feature)")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError("out of the float range") from None
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    if kind == "int" and not number.is_integer():
        raise ValueError("expected an integer")
    return number


def _scalar(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# ---- compilation ---------------------------------------------------------------------------------
def compile_scorer(model: Any, config: ModelConfig, version: int, model_name: str | None = None) -> Scorer:
    """The Scorer of one loaded champion version (see the module docstring)."""
    features = list(config.data.features)
    task = config.training.task
    classes: list[Any] = []
    positive: int | None = None
    if task != "regression" and hasattr(model, "predict_proba"):
        found = getattr(model, "classes_", None)
        classes = [_scalar(c) for c in (found.tolist() if found is not None else [])]
        if task == "binary_classification" and len(classes) == 2:
            positive = positive_index(model.classes_, config)
    name = model_name or config.model.name
    compiled = _compiled_parts(model, features)
    if compiled is not None:
        columns, order, estimator, names_in = compiled
        scorer = Scorer(
            name,
            version,
            model,
            config,
            "compiled",
            columns,
            order,
            estimator,
            task,
            classes,
            positive,
            feature_names_in=names_in,
        )
        if _agrees(scorer, model, config):
            scorer.fast = _fast_path(scorer)
            return scorer
    columns = [Column(f.name, f.type, _optional(f)) for f in features]
    return Scorer(
        name,
        version,
        model,
        config,
        "frame",
        columns,
        list(range(len(features))),
        model,
        task,
        classes,
        positive,
    )


def _fast_path(scorer: Scorer) -> FastProba | None:
    """driftline.service.fastpredict's predict_proba for the compiled estimator, if it builds and
    gives exactly the estimator's own probabilities on the probe rows; else None."""
    if scorer.task == "regression" or not hasattr(scorer.estimator, "predict_proba"):
        return None
    fast = compile_hgb(scorer.estimator)
    if fast is None:
        return None
    width = max([len(c.codes or {}) for c in scorer.columns] + [12]) + 2
    _, X = scorer.matrix({"rows": probe_rows(scorer, width)}, width)
    if not verified(fast, scorer.estimator, X, scorer.inputs(X)):
        log.warning(
            "model %s: the fast predict_proba differs from the estimator's: using predict_proba",
            scorer.model_name,
        )
        return None
    return fast


def positive_index(classes: Any, config: ModelConfig) -> int:
    """The column of predict_proba that is the configured positive class."""
    from driftline.training.metrics import resolve_positive_class, same_label

    found = list(classes.tolist() if hasattr(classes, "tolist") else classes)
    positive = resolve_positive_class(found, config.data.positive_class, config.data.label, config.model.name)
    for i, c in enumerate(found):
        if same_label(c, positive):
            return i
    from driftline.training.metrics import PositiveClassError

    raise PositiveClassError(
        f"model {config.model.name!r}: the positive class {positive!r} is not in {found}"
    )


def _optional(feature: Feature) -> bool:
    return bool(getattr(feature, "optional", False))


def _compiled_parts(
    model: Any, features: list[Feature]
) -> tuple[list[Column], list[int], Any, list[str] | None] | None:
    """(columns, order, final estimator, feature names the estimator was fitted with) of a
    Driftline-trained pipeline, or None for any other model."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    if not isinstance(model, Pipeline) or not model.steps:
        return None
    estimator = model.steps[-1][1]
    index = {f.name: i for i, f in enumerate(features)}
    if len(model.steps) == 1:
        names = getattr(estimator, "feature_names_in_", None)
        if names is None or any(f.type in CATEGORICAL_TYPES for f in features):
            return None
        names = [str(n) for n in names]
        if sorted(names) != sorted(index):
            return None
        columns = [Column(f.name, f.type, _optional(f)) for f in features]
        return columns, [index[n] for n in names], estimator, names
    if len(model.steps) != 2 or not isinstance(model.steps[0][1], ColumnTransformer):
        return None
    transformer = model.steps[0][1]
    codes: dict[str, tuple[dict[str, float], float, float]] = {}
    order_names: list[str] = []
    for _, part, cols in transformer.transformers_:
        if part == "drop" or (isinstance(cols, list) and not cols):
            continue
        if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
            return None
        if isinstance(part, OrdinalEncoder):
            if getattr(part, "infrequent_categories_", None) is not None and any(
                c is not None for c in part.infrequent_categories_
            ):
                return None
            unknown = part.unknown_value if part.handle_unknown == "use_encoded_value" else None
            missing = part.encoded_missing_value
            if unknown is None or not isinstance(missing, int | float):
                return None
            for col, cats in zip(cols, part.categories_, strict=True):
                known = {str(c): float(k) for k, c in enumerate(cats.tolist()) if isinstance(c, str)}
                codes[col] = (known, float(unknown), float(missing))
        elif part != "passthrough" and not _identity(part):
            return None
        order_names.extend(cols)
    if sorted(order_names) != sorted(index) or set(codes) != {
        f.name for f in features if f.type in CATEGORICAL_TYPES
    }:
        return None
    columns = []
    for f in features:
        if f.name in codes:
            known, unknown, missing = codes[f.name]
            columns.append(
                Column(f.name, f.type, _optional(f), known, unknown, missing, f.type == "category")
            )
        else:
            columns.append(Column(f.name, f.type, _optional(f)))
    names_in = getattr(estimator, "feature_names_in_", None)
    return columns, [index[n] for n in order_names], estimator, None if names_in is None else list(names_in)


def _identity(part: Any) -> bool:
    """A fitted "passthrough" (sklearn stores it as an identity FunctionTransformer)."""
    from sklearn.preprocessing import FunctionTransformer

    return isinstance(part, FunctionTransformer) and part.func is None and not part.kw_args


def _agrees(scorer: Scorer, model: Any, config: ModelConfig) -> bool:
    """The compiled transform equals the pipeline's transform on probe rows (exactly)."""
    import numpy as np
    import pandas as pd

    from driftline.training.estimators import prepare_features

    width = max([len(c.codes or {}) for c in scorer.columns] + [12]) + 2
    rows = probe_rows(scorer, width)
    try:
        _, X = scorer.matrix({"rows": rows}, len(rows))
        frame = prepare_features(pd.DataFrame(rows), config.data.features)
        expected = np.asarray(model[:-1].transform(frame) if len(model.steps) > 1 else frame.to_numpy(float))
        if scorer.feature_names_in is not None and len(model.steps) == 1:
            expected = frame[scorer.feature_names_in].to_numpy(float)
        scorer.input_object = expected.dtype == object
        same = bool(expected.shape == X.shape and np.array_equal(expected.astype(float), X, equal_nan=True))
    except Exception as exc:
        log.warning(
            "model %s: the compiled transform could not be checked (%s): scoring through the frame path",
            config.model.name,
            exc,
        )
        return False
    if not same:
        log.warning(
            "model %s: the compiled transform differs from the pipeline's: scoring through the frame path",
            config.model.name,
        )
    return same


def probe_rows(scorer: Scorer, n: int) -> list[dict[str, Any]]:
    """`n` valid rows that go through every known category, an unknown string value (string
    features), missing values (optional features) and both bools: the warm-up and the check."""
    rows: list[dict[str, Any]] = []
    for k in range(n):
        row: dict[str, Any] = {scorer.entity: f"probe-{k}"}
        for c in scorer.columns:
            if c.codes is not None:
                known = sorted(c.codes) or ["driftline-probe"]
                at = k % (len(known) + 2)
                if at < len(known):
                    row[c.name] = known[at]
                elif at == len(known) and not c.strict:
                    row[c.name] = "driftline-probe-unknown"
                else:
                    row[c.name] = None if c.optional else known[0]
            elif c.type in CATEGORICAL_TYPES:
                row[c.name] = f"value-{k % 3}"
            elif c.optional and k % 7 == 6:
                row[c.name] = None
            elif c.type == "bool":
                row[c.name] = k % 2 == 0
            elif c.type == "float":
                row[c.name] = (k % 50) * 1.5
            else:
                row[c.name] = k % 50
        rows.append(row)
    return rows
