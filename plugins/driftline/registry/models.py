"""Load registered models safely: only allowed serialization formats, through the caller's own client.

Loading a model artifact can run code: MLflow's scikit-learn flavor unpickles `pickle` and
`cloudpickle` artifacts, and even its `skops` loader trusts whatever types the artifact's own
MLmodel file lists (`skops_trusted_types`), so anyone who can write to MLflow could get code
execution in the worker and the service. `load_model_version` therefore:

1. downloads the version's files through the caller's MLflow client (its own credentials,
   driftline.mlflow_auth; no process-wide tracking URI), into a private temporary folder;
2. reads the MLmodel file itself (`yaml.safe_load`) and refuses, with `ModelLoadRefusedError`
   naming the model, version and format:
   - a model without the `sklearn` flavor (the only one Driftline serves);
   - `code` paths (they would be put on `sys.path`: any module could be replaced);
   - a model file outside the model's folder;
   - `pickle` / `cloudpickle` unless the model's config trusts that format
     (`registry.trusted_serialization: [cloudpickle]`);
   - a `skops` file holding a type that is neither trusted by skops itself (scikit-learn
     estimators, numpy, scipy ...) nor in Driftline's own list (`DEFAULT_SKOPS_TRUSTED_TYPES`,
     scikit-learn's own classes) nor in the config's `registry.skops_trusted_types`; the
     artifact's own list is never consulted;
3. loads only then: skops with exactly the checked types as `trusted`, or (trusted) pickle.

Importing `skops.io` builds its list of trusted scipy ufuncs by asking, for each of about 230
ufuncs that have no `__module__`, which loaded module holds it: a walk over `sys.modules`. In a
task process that walk touches Airflow's deprecated module aliases, whose `__getattr__` warns
on every name (~1,160 lines before the task's first useful line); it is done here with exactly
those warnings (raised from `skops.io._utils`) ignored.
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.registry.errors import ModelLoadRefusedError

if TYPE_CHECKING:
    from driftline.config.models import ModelConfig
    from driftline.mlflow_store import MlflowAccess

_SKOPS_WALK = r"skops\.io\._utils"
SKOPS = "skops"
PICKLE_FORMATS = ("pickle", "cloudpickle")
# Types scikit-learn estimators Driftline trains hold that skops does not trust by itself
# (plain data types; nothing here can run code when it is restored).
DEFAULT_SKOPS_TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "builtins.slice",
        "numpy.dtype",
        "numpy.ndarray",
        "collections.OrderedDict",
        "collections.defaultdict",
        # HistGradientBoosting keeps partial(sklearn.utils.validation.check_array, ...): the wrapped
        # function is a type of its own in the file, so it must be trusted on its own too.
        "functools.partial",
    }
)
# scikit-learn's own classes (e.g. HistGradientBoosting's TreePredictor): restored by skops through
# their constructor and state, never by calling a function the file names.
DEFAULT_SKOPS_TRUSTED_PREFIXES = ("sklearn.",)


@dataclass(frozen=True)
class LoadPolicy:
    """What a model's config allows to be loaded (registry.trusted_serialization / skops_trusted_types)."""

    trusted_serialization: frozenset[str] = frozenset()
    skops_trusted_types: frozenset[str] = frozenset()

    @classmethod
    def of(cls, config: ModelConfig | None) -> LoadPolicy:
        if config is None:
            return cls()
        return cls(
            frozenset(config.registry.trusted_serialization), frozenset(config.registry.skops_trusted_types)
        )


@contextlib.contextmanager
def quiet_skops_module_walk() -> Iterator[None]:
    """Ignore the warnings skops' `sys.modules` walk provokes (and no others) inside the block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=_SKOPS_WALK)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=_SKOPS_WALK)
        yield


def download_model_version(
    access: MlflowAccess, name: str, version: int, dst: Path, artifact_path: str = ""
) -> Path:
    """The files of `name` version `version` (or only `artifact_path` in them, e.g. "MLmodel"),
    downloaded through `access`'s own client and URI into `dst`: never MLflow's process-wide store."""
    import importlib

    from driftline.mlflow_auth import credentialed_repository

    registry: Any = importlib.import_module("mlflow.store.artifact.artifact_repository_registry")
    uri = access.client.get_model_version_download_uri(name, str(version))
    repo = registry.get_artifact_repository(uri, tracking_uri=access.tracking_uri)
    credentials = getattr(access, "credentials", None)
    if credentials is not None:
        repo = credentialed_repository(repo, credentials)
    return Path(repo.download_artifacts(artifact_path, dst_path=str(dst)))


def check_model_files(
    folder: Path, name: str, version: int, policy: LoadPolicy
) -> tuple[str, Path, list[str]]:
    """(format, model file, skops types to trust) when the MLmodel in `folder` may be loaded;
    ModelLoadRefusedError (naming model, version, format and why) otherwise."""
    import yaml

    what = f"model {name!r} version {version}"
    mlmodel = folder / "MLmodel"
    if not mlmodel.is_file():
        raise ModelLoadRefusedError(f"{what}: no MLmodel file in its artifacts; nothing is loaded")
    meta = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
    flavors = meta.get("flavors") if isinstance(meta, dict) else None
    flavor = flavors.get("sklearn") if isinstance(flavors, dict) else None
    if not isinstance(flavor, dict):
        raise ModelLoadRefusedError(
            f"{what} has no 'sklearn' flavor (flavors: {sorted(flavors or {})}); Driftline loads only "
            "scikit-learn models"
        )
    fmt = str(flavor.get("serialization_format") or "pickle")  # MLflow's own default when absent
    if flavor.get("code"):
        raise ModelLoadRefusedError(
            f"{what} (format {fmt!r}) ships code paths ({flavor['code']!r}) that loading would put on "
            "sys.path; refused"
        )
    model_file = (folder / str(flavor.get("pickled_model") or "")).resolve()
    if not model_file.is_relative_to(folder.resolve()) or not model_file.is_file():
        raise ModelLoadRefusedError(
            f"{what} (format {fmt!r}): its model file {flavor.get('pickled_model')!r} is not a file inside "
            "the model's artifacts; refused"
        )
    if fmt in PICKLE_FORMATS:
        if fmt not in policy.trusted_serialization:
            raise ModelLoadRefusedError(
                f"{what} is serialized as {fmt!r}, which can run arbitrary code when loaded; refused. "
                f"If this model's artifacts come only from a trusted writer, add {fmt!r} to "
                "registry.trusted_serialization in its config"
            )
        return fmt, model_file, []
    if fmt != SKOPS:
        raise ModelLoadRefusedError(
            f"{what} has serialization format {fmt!r}, which Driftline does not load "
            f"(allowed: {SKOPS!r}, and {', '.join(map(repr, PICKLE_FORMATS))} when trusted)"
        )
    with quiet_skops_module_walk():
        import skops.io

        untrusted = list(skops.io.get_untrusted_types(file=model_file))
    allowed = DEFAULT_SKOPS_TRUSTED_TYPES | policy.skops_trusted_types
    refused = sorted(t for t in set(untrusted) - allowed if not t.startswith(DEFAULT_SKOPS_TRUSTED_PREFIXES))
    if refused:
        raise ModelLoadRefusedError(
            f"{what} (format 'skops') holds types that are not trusted: {refused}; refused. If they are "
            "safe to restore, list them in registry.skops_trusted_types in its config"
        )
    return fmt, model_file, untrusted


def load_checked(fmt: str, model_file: Path, trusted_types: Iterable[str]) -> Any:
    """Deserialize a model file `check_model_files` accepted."""
    if fmt == SKOPS:
        with quiet_skops_module_walk():
            import skops.io

            return skops.io.load(model_file, trusted=sorted(trusted_types))
    with model_file.open("rb") as handle:
        if fmt == "cloudpickle":
            import cloudpickle  # type: ignore[import-untyped]

            return cloudpickle.load(handle)
        import pickle

        return pickle.load(handle)  # noqa: S301 - only when registry.trusted_serialization lists pickle


def load_model_version(
    access: MlflowAccess, name: str, version: int, policy: LoadPolicy | ModelConfig | None = None
) -> Any:
    """The scikit-learn model `name` version `version`, loaded only in an allowed format (module doc).

    `policy`: the model's config (its registry.trusted_serialization / skops_trusted_types) or a
    LoadPolicy; None trusts nothing beyond skops' and Driftline's safe types.
    """
    rules = policy if isinstance(policy, LoadPolicy) else LoadPolicy.of(policy)
    with tempfile.TemporaryDirectory(prefix="driftline-model-") as tmp:
        folder = download_model_version(access, name, int(version), Path(tmp))
        fmt, model_file, trusted = check_model_files(folder, name, int(version), rules)
        return load_checked(fmt, model_file, trusted)
