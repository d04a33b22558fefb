"""Driftline errors are plain Python; DriftlineOperator maps them to Airflow's retries in one place."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
import textwrap

import pytest
from driftline.exceptions import DriftlineError, PermanentError

DAG_ID = "driftline_test__error_mapping"
DAG_FILE = textwrap.dedent(
    '''
    """Test DAG (airflow dag): one permanent and one transient failure, two retries each."""
    from __future__ import annotations

    import datetime as dt

    from airflow.sdk import DAG

    from driftline.config import load_config
    from driftline.exceptions import DataSourceError, PermanentError
    from driftline.operators.base import DriftlineOperator

    config = load_config("{config}")


    class Raise(DriftlineOperator):
        def __init__(self, *, error: type[Exception], **kwargs):
            super().__init__(model_config=config, **kwargs)
            self.error = error

        def execute(self, context):
            raise self.error(f"{{self.task_id}} try {{context['ti'].try_number}}")


    with DAG("{dag_id}", schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
             default_args={{"retries": 2, "retry_delay": dt.timedelta(0)}}) as dag:
        Raise(task_id="permanent", error=PermanentError)
        Raise(task_id="transient", error=DataSourceError)
    '''
)


def test_exceptions_are_plain_python() -> None:
    assert PermanentError.__mro__[1:] == (DriftlineError, Exception, BaseException, object)


def test_the_policy_fails_permanent_errors_and_leaves_others_to_retries() -> None:
    from airflow.sdk import RetryAction
    from driftline.exceptions import DataSourceError, SnapshotError
    from driftline.operators.base import driftline_retry_policy

    policy = driftline_retry_policy()
    assert policy.evaluate(SnapshotError("x"), 1, 3).action is RetryAction.FAIL
    assert policy.evaluate(DataSourceError("x"), 1, 3).action is RetryAction.DEFAULT


@pytest.fixture
def error_dag(tmp_path, monkeypatch, example_config_path):
    from airflow.utils.db import initdb

    initdb()
    folder = tmp_path / "dags"
    folder.mkdir()
    path = folder / "error_mapping_dag.py"
    path.write_text(DAG_FILE.format(config=example_config_path, dag_id=DAG_ID))
    bundle = [
        {
            "name": "driftline-error-mapping-test",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder), "refresh_interval": 0},
        }
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundle))
    spec = importlib.util.spec_from_file_location("error_mapping_dag", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module.dag
    sys.modules.pop("error_mapping_dag", None)


@pytest.mark.slow
def test_a_permanent_error_fails_without_retry_under_airflow(error_dag, driftline_home) -> None:
    run = error_dag.test(logical_date=dt.datetime(2026, 1, 6, tzinfo=dt.UTC))
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert tis["permanent"].state == "failed" and tis["permanent"].try_number == 1
    assert tis["transient"].state == "failed" and tis["transient"].try_number == 3
    # Airflow ran each task's failure callback (the AlertRecordNotifier) once, after the last try.
    from driftline.alerting import alerts_file

    records = [json.loads(line) for line in alerts_file().read_text().splitlines()]
    assert sorted((r["run"]["task_id"], r["run"]["try"], r["details"]["exception"]) for r in records) == [
        ("permanent", 1, "PermanentError"),
        ("transient", 3, "DataSourceError"),
    ]
