"""Model loading takes an allow-list of serialization formats (issue 22).

A model logged with `serialization_format="cloudpickle"` whose unpickling would write a marker
file is registered in a real (SQLite) MLflow registry: loading it is refused with an error naming
the model, version and format, and the marker is never written; with the config's opt-in
(`registry.trusted_serialization: [cloudpickle]`) it loads. A skops model loads by default, and a
tampered MLmodel (code paths, a model file outside the folder) is refused.
"""

from __future__ import annotations

import pathlib
from pathlib import Path
from typing import Any

import pytest
from driftline.registry.errors import ModelLoadRefusedError
from driftline.registry.models import LoadPolicy, check_model_files, load_model_version

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow


class _Marker:
    """Unpickling this writes a file: stands for any code a pickle can run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (pathlib.Path.write_text, (pathlib.Path(self.path), "code ran while loading"))


def _fitted() -> Any:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(0).random((60, 2))
    return LogisticRegression().fit(X, (X[:, 0] > 0.5).astype(int))


@pytest.fixture
def store(driftline_home: Path, tmp_path: Path) -> Any:
    from driftline.mlflow_store import MlflowStore

    store = MlflowStore(f"sqlite:///{tmp_path / 'mlflow.db'}")
    store.use_for_fluent_api()
    return store


def _register(store: Any, name: str, model: Any, fmt: str) -> int:
    import mlflow
    import mlflow.sklearn

    experiment = store.get_or_create_experiment(f"exp-{name}")
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format=fmt,
            registered_model_name=name,
            pip_requirements=["scikit-learn"],  # no requirement inference (it loads the model)
        )
    return int(info.registered_model_version)


def test_cloudpickle_is_refused_and_never_runs_then_loads_with_the_config_opt_in(
    store: Any, tmp_path: Path, example_config: Any
) -> None:
    marker = tmp_path / "pwned"
    model = _fitted()
    model.payload = _Marker(marker)
    version = _register(store, "evil", model, "cloudpickle")
    assert not marker.exists()  # logging pickles, it does not unpickle

    with pytest.raises(ModelLoadRefusedError) as info:
        load_model_version(store, "evil", version, example_config)
    message = str(info.value)
    assert "model 'evil' version 1" in message and "'cloudpickle'" in message
    assert "registry.trusted_serialization" in message
    assert not marker.exists()

    example_config.registry.trusted_serialization = ["cloudpickle"]
    loaded = load_model_version(store, "evil", version, example_config)
    assert hasattr(loaded, "predict_proba")
    assert marker.exists()  # trusted: it did run, which is exactly what trusting means


def test_pickle_needs_its_own_opt_in(store: Any, tmp_path: Path) -> None:
    version = _register(store, "plain_pickle", _fitted(), "pickle")
    with pytest.raises(
        ModelLoadRefusedError, match=r"model 'plain_pickle' version 1 is serialized as 'pickle'"
    ):
        load_model_version(store, "plain_pickle", version, LoadPolicy(frozenset({"cloudpickle"})))
    assert load_model_version(store, "plain_pickle", version, LoadPolicy(frozenset({"pickle"}))) is not None


def test_skops_loads_by_default_and_an_untrusted_type_is_named(store: Any) -> None:
    version = _register(store, "safe", _fitted(), "skops")
    assert hasattr(load_model_version(store, "safe", version), "predict_proba")


def test_a_tampered_mlmodel_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (tmp_path / "outside.pkl").write_bytes(b"x")
    mlmodel = folder / "MLmodel"
    mlmodel.write_text(
        "flavors:\n  sklearn:\n    pickled_model: ../outside.pkl\n    serialization_format: skops\n"
    )
    with pytest.raises(ModelLoadRefusedError, match="not a file inside the model's artifacts"):
        check_model_files(folder, "m", 3, LoadPolicy())
    (folder / "model.skops").write_bytes(b"x")
    mlmodel.write_text(
        "flavors:\n  sklearn:\n    pickled_model: model.skops\n    serialization_format: skops\n    code: code\n"
    )
    with pytest.raises(ModelLoadRefusedError, match="ships code paths"):
        check_model_files(folder, "m", 3, LoadPolicy())
    mlmodel.write_text("flavors:\n  python_function:\n    loader_module: evil\n")
    with pytest.raises(ModelLoadRefusedError, match="has no 'sklearn' flavor"):
        check_model_files(folder, "m", 3, LoadPolicy())
    mlmodel.write_text(
        "flavors:\n  sklearn:\n    pickled_model: model.skops\n    serialization_format: joblib\n"
    )
    with pytest.raises(ModelLoadRefusedError, match="format 'joblib', which Driftline does not load"):
        check_model_files(folder, "m", 3, LoadPolicy())


def test_the_config_fields_validate(example_config: Any) -> None:
    from driftline.config.models import RegistrySection
    from pydantic import ValidationError

    section = RegistrySection(trusted_serialization=["cloudpickle"], skops_trusted_types=["mylib.Thing"])
    assert LoadPolicy.of(example_config.model_copy(update={"registry": section})).trusted_serialization == {
        "cloudpickle"
    }
    with pytest.raises(ValidationError):
        RegistrySection(trusted_serialization=["joblib"])
