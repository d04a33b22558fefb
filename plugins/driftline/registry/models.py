"""Load registered scikit-learn models without flooding the task log.

MLflow logs scikit-learn models with skops (safe deserialization). Importing `skops.io` builds
its list of trusted scipy ufuncs by asking, for each of about 230 ufuncs that have no
`__module__`, which loaded module holds it: a walk over `sys.modules` (pickle's
`whichmodule`). In a task process that walk touches Airflow's deprecated module aliases
(`airflow.utils.timezone`, `airflow.utils.trigger_rule`, ...), whose `__getattr__` warns on
every name, so one import wrote ~1,160 `DeprecatedImportWarning` lines before the task's first
useful line. The walk happens once per process, at that import; it is done here with exactly
those warnings (raised from `skops.io._utils`) ignored, so every other warning still shows.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

_SKOPS_WALK = r"skops\.io\._utils"


@contextlib.contextmanager
def quiet_skops_module_walk() -> Iterator[None]:
    """Ignore the warnings skops' `sys.modules` walk provokes (and no others) inside the block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=_SKOPS_WALK)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=_SKOPS_WALK)
        yield


def load_sklearn_model(model_uri: str) -> Any:
    """`mlflow.sklearn.load_model(model_uri)`, with skops imported (once) in the quiet block."""
    import mlflow.sklearn

    with quiet_skops_module_walk():
        with contextlib.suppress(ImportError):  # a cloudpickle model needs no skops
            import skops.io  # noqa: F401
        return mlflow.sklearn.load_model(model_uri)
