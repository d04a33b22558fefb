"""Test-wide isolation: every test session gets its own DRIFTLINE_HOME and AIRFLOW_HOME.

The environment is set at import time, before anything imports Airflow, so no test ever
touches the developer's `.driftline/` folder.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="driftline-tests-"))

os.environ["DRIFTLINE_HOME"] = str(_SESSION_HOME / "home")
os.environ["DRIFTLINE_PROJECT_ROOT"] = str(REPO_ROOT)
os.environ["DRIFTLINE_CONFIGS"] = str(REPO_ROOT / "dags" / "configs")
os.environ["AIRFLOW_HOME"] = str(_SESSION_HOME / "airflow")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO_ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_SESSION_HOME / 'airflow' / 'airflow.db'}"
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("DRIFTLINE_MLFLOW_LOCAL_STORE", None)
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")


_REGISTRY_CLIENT_VARIABLES = ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES")


@pytest.fixture(autouse=True)
def _mlflow_variables_do_not_leak() -> Iterator[None]:
    """Restore every MLFLOW_* variable after each test.

    mlflow.set_tracking_uri()/set_registry_uri() write process-wide variables, and Driftline's
    registry client sets MLflow's HTTP timeout and retries (registry.retry.bound_client): left
    behind, they send later tests' subprocesses (benchmarks, task processes) to a stopped
    `mlflow server` or give them a registry client's timeouts.
    """
    saved = {name: value for name, value in os.environ.items() if name.startswith("MLFLOW_")}
    # bound_client's variables are per policy: a short test policy (set by a module fixture, so
    # already in `saved`) must never reach the next test. The next registry call sets its own.
    for name in _REGISTRY_CLIENT_VARIABLES:
        saved.pop(name, None)
    yield
    for name in [name for name in os.environ if name.startswith("MLFLOW_")]:
        if name not in saved:
            del os.environ[name]
    os.environ.update(saved)


@pytest.fixture
def driftline_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DRIFTLINE_HOME for one test (snapshots, MLflow store, alerts)."""
    home = tmp_path / "driftline-home"
    home.mkdir()
    monkeypatch.setenv("DRIFTLINE_HOME", str(home))
    monkeypatch.setenv("DRIFTLINE_DATA", str(home / "data"))
    # mlflow.set_tracking_uri() writes these variables: pin them to this test's store.
    store = home / "mlflow"
    store.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", f"sqlite:///{store / 'mlflow.db'}")
    # The MLflow connection itself points at this store: a missing connection is an error, never
    # a silent local fallback (driftline.hooks.mlflow).
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_DEFAULT",
        json.dumps({"conn_type": "http", "extra": {"tracking_uri": f"sqlite:///{store / 'mlflow.db'}"}}),
    )
    return home


@pytest.fixture(scope="session")
def churn_generator():
    """include/generate_churn_data.py as a module (include/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "generate_churn_data", REPO_ROOT / "include" / "generate_churn_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example_config_path() -> Path:
    return REPO_ROOT / "dags" / "configs" / "churn.yaml"


@pytest.fixture
def example_config(example_config_path: Path):
    from driftline.config import load_config

    return load_config(example_config_path)


_INTEGRATION_DIR = REPO_ROOT / "tests" / "integration"


def _utf8_safe(text: str) -> str:
    """`text` with lone surrogates (an undecodable file name, os.fsdecode's \\udcXX) escaped."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Captured output that holds a non-UTF-8 file name (tests/dags/test_hostile_configs.py) is
    escaped in the report: pytest-xdist sends reports from its workers as UTF-8 and a lone
    surrogate there crashes the whole run (execnet DumpError), not just that test."""
    report: pytest.TestReport = yield
    report.sections = [(name, _utf8_safe(content)) for name, content in report.sections]
    return report


# The heaviest tests, heaviest first (from `pytest --durations`, 2026-12-08): they run first, so
# pytest-xdist's workers (`make test`: --dist loadgroup, which hands out tests in this order) start
# them at once rather than meeting one of them alone at the end of the run.
_HEAVY_FIRST = (
    "tests/integration/test_pipeline_end_to_end.py",
    "tests/integration/test_postgres_concurrency.py",
    "tests/integration/test_churn_on_spark.py",
    "tests/integration/faults/test_fault_matrix.py",
    "tests/integration/test_flights_example.py",
    "tests/integration/test_clinic_example.py",
    "tests/integration/test_churn_on_duckdb.py",
    "tests/integration/concurrency/",
    "tests/integration/test_wheel_install.py",
)


def _run_order(item: pytest.Item) -> int:
    for rank, prefix in enumerate(_HEAVY_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(_HEAVY_FIRST) + (0 if item.get_closest_marker("slow") else 1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ carries the `integration` marker, so `make test-fast`
    (`-m "not slow and not integration"`) leaves it out without each file having to say so.
    The heaviest tests go first (_HEAVY_FIRST, then the other slow-marked ones)."""
    for item in items:
        if item.path.is_relative_to(_INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)
    items.sort(key=_run_order)  # stable: the rest keep pytest's order
