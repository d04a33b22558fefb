"""Turn `training.estimator` into a fitted scikit-learn compatible model.

Two forms:
- `class_path`: an importable estimator class and its `params`. The estimator is wrapped in a
  `Pipeline` whose `ColumnTransformer` ordinal-encodes category/string features (unknown and
  missing values become -1) and passes numbers and bools through, so one fitted sklearn object
  is logged, loaded and asked for `predict_proba`. Estimators with a `categorical_features`
  parameter (HistGradientBoosting*) get the encoded columns marked as categorical unless the
  params set it: negative codes are treated as missing by those estimators.
- `callable`: `module:function`, looked up first as `include/<module>.py` of the project and then
  as an importable module. It is called as `function(X_train, y_train, params)` with the raw
  feature frame and must return a fitted model with `predict` (and `predict_proba` for classifiers).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from driftline.config.models import Estimator, Feature
from driftline.settings import project_root
from driftline.training.errors import TrainingInputError

CATEGORICAL_TYPES = frozenset({"category", "string"})


def _import_class(class_path: str) -> type:
    module_name, _, attr = class_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TrainingInputError(
            f"training.estimator.class_path {class_path!r}: cannot import module {module_name!r} ({exc})"
        ) from exc
    cls = getattr(module, attr, None)
    if cls is None or not inspect.isclass(cls):
        raise TrainingInputError(
            f"training.estimator.class_path {class_path!r}: module {module_name!r} has no class {attr!r}"
        )
    if not (hasattr(cls, "fit") and hasattr(cls, "get_params")):
        raise TrainingInputError(
            f"training.estimator.class_path {class_path!r} is not a scikit-learn compatible estimator "
            "(it needs fit and get_params)"
        )
    return cls


def _load_module(module_name: str) -> Any:
    include_file = project_root() / "include" / Path(*module_name.split(".")).with_suffix(".py")
    if include_file.is_file():
        unique = f"driftline_include_{module_name.replace('.', '_')}"
        spec = importlib.util.spec_from_file_location(unique, include_file)
        if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
            raise TrainingInputError(f"training.estimator.callable: cannot load {include_file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise TrainingInputError(
            f"training.estimator.callable: module {module_name!r} is neither {include_file} "
            f"nor importable ({exc})"
        ) from exc


def resolve_callable(spec: str) -> Callable[..., Any]:
    """The user's `module:function` training function."""
    module_name, _, attr = spec.partition(":")
    func: Any = getattr(_load_module(module_name), attr, None)
    if not callable(func):
        raise TrainingInputError(
            f"training.estimator.callable {spec!r}: {module_name!r} has no function {attr!r}"
        )
    resolved: Callable[..., Any] = func
    return resolved


def build_estimator(estimator_cfg: Estimator) -> Any:
    """The configured estimator, unfitted, with its params checked before any data is read.

    For `callable` configs this returns the resolved function instead.
    Raises TrainingInputError naming an unknown class or the params the estimator rejects.
    """
    if estimator_cfg.callable:
        return resolve_callable(estimator_cfg.callable)
    class_path = str(estimator_cfg.class_path)
    cls = _import_class(class_path)
    params = dict(estimator_cfg.params)
    try:
        valid = set(cls().get_params(deep=False))
    except TypeError:  # an estimator with required constructor args: fall back to its signature
        valid = set(inspect.signature(cls).parameters) - {"self", "args", "kwargs"}
    unknown = sorted(set(params) - valid)
    if unknown:
        raise TrainingInputError(
            f"training.estimator.params: {class_path} does not accept {unknown}; "
            f"its parameters are {sorted(valid)}"
        )
    try:
        estimator = cls(**params)
    except (TypeError, ValueError) as exc:
        raise TrainingInputError(
            f"training.estimator.params {sorted(params)} rejected by {class_path}: {exc}"
        ) from exc
    _check_param_values(estimator, class_path, params)
    return estimator


def _check_param_values(estimator: Any, class_path: str, params: dict[str, Any]) -> None:
    """Run sklearn's own parameter validation (types and ranges) now rather than at fit time."""
    validate = getattr(estimator, "_validate_params", None)
    if validate is None:
        return
    from sklearn.utils._param_validation import InvalidParameterError

    try:
        validate()
    except InvalidParameterError as exc:
        bad = [name for name in params if f"'{name}'" in str(exc)]
        raise TrainingInputError(
            f"training.estimator.params {bad or sorted(params)} rejected by {class_path}: {exc}"
        ) from exc


def prepare_features(df: pd.DataFrame, features: Sequence[Feature]) -> pd.DataFrame:
    """The feature frame in config order with stable dtypes: strings for categories, bools, numbers."""
    out = pd.DataFrame(index=df.index)
    for feature in features:
        col = df[feature.name]
        if feature.type in CATEGORICAL_TYPES:
            out[feature.name] = (
                col.astype("object").where(col.notna(), None).map(lambda v: None if v is None else str(v))
            )
        elif feature.type == "bool":
            out[feature.name] = col.astype("bool")
        else:  # int too: the logged signature then accepts missing values at inference (ints cannot hold NaN)
            out[feature.name] = col.astype("float64")
    return out


def make_pipeline(estimator: Any, features: Sequence[Feature], user_params: Collection[str] = ()) -> Any:
    """Encode categoricals in front of `estimator`: one sklearn object to fit, log and load.

    `user_params` are the params the config sets: a `categorical_features` given there is kept.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    categorical = [f.name for f in features if f.type in CATEGORICAL_TYPES]
    other = [f.name for f in features if f.type not in CATEGORICAL_TYPES]
    steps = []
    if categorical:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1, dtype=float
        )
        transformer = ColumnTransformer(
            [("categorical", encoder, categorical), ("other", "passthrough", other)],
            remainder="drop",
            verbose_feature_names_out=False,
        )
        steps.append(("features", transformer))
        params = estimator.get_params(deep=False)
        if "categorical_features" in params and "categorical_features" not in user_params:
            mask = [True] * len(categorical) + [False] * len(other)
            estimator.set_params(categorical_features=mask)
    steps.append(("estimator", estimator))
    return Pipeline(steps)


def fit_model(
    estimator_cfg: Estimator,
    features: Sequence[Feature],
    X_train: pd.DataFrame,
    y_train: pd.Series,
    estimator: Any | None = None,
) -> Any:
    """Fit the configured model on (X_train, y_train); `estimator` may be a `build_estimator` result."""
    built = estimator if estimator is not None else build_estimator(estimator_cfg)
    if estimator_cfg.callable:
        model = built(X_train, y_train, dict(estimator_cfg.params))
        if model is None or not hasattr(model, "predict"):
            raise TrainingInputError(
                f"training.estimator.callable {estimator_cfg.callable!r} returned {type(model).__name__}, "
                "expected a fitted model with predict()"
            )
        return model
    pipeline = make_pipeline(built, features, user_params=estimator_cfg.params)
    try:
        pipeline.fit(X_train, y_train)
    except ValueError as exc:
        from sklearn.utils._param_validation import InvalidParameterError

        if isinstance(exc, InvalidParameterError):
            raise TrainingInputError(
                f"training.estimator.params rejected by {estimator_cfg.class_path}: {exc}"
            ) from exc
        raise
    return pipeline
