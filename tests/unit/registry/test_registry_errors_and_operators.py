"""Retries and failure modes (unreachable registry, unknown model) and the operators' parse-time contract."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from driftline.exceptions import PermanentError, RegistryError
from driftline.registry.errors import RegistryConflictError, RegistryInputError
from driftline.registry.retry import RetryPolicy, call, is_transient

FAST = RetryPolicy(attempts=3, backoff=0.01)


class Coded(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.error_code = code


def test_error_classes():
    assert issubclass(RegistryInputError, PermanentError)
    assert issubclass(RegistryConflictError, RegistryError) and not issubclass(
        RegistryConflictError, PermanentError
    )


def test_transient_classification():
    assert is_transient(Coded("INTERNAL_ERROR")) and is_transient(Coded("TEMPORARILY_UNAVAILABLE"))
    assert is_transient(ConnectionError()) and is_transient(Coded("BAD_REQUEST: QueuePool limit reached"))
    assert not is_transient(Coded("RESOURCE_DOES_NOT_EXIST")) and not is_transient(ValueError("x"))


def test_call_retries_transient_then_succeeds_or_gives_up():
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise Coded("TEMPORARILY_UNAVAILABLE")
        return "ok"

    assert call(FAST, "flaky", flaky) == "ok" and len(attempts) == 3
    with pytest.raises(RegistryError, match="down failed 3 time"):
        call(FAST, "down", lambda: (_ for _ in ()).throw(Coded("INTERNAL_ERROR")))
    with pytest.raises(Coded):  # a definite answer is not retried
        call(FAST, "missing", lambda: (_ for _ in ()).throw(Coded("RESOURCE_DOES_NOT_EXIST")))


@pytest.fixture
def closed_port_hook(monkeypatch):
    from driftline.hooks.mlflow import MlflowHook

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    monkeypatch.setenv("DRIFTLINE_REGISTRY_RETRIES", "2")
    monkeypatch.setenv("DRIFTLINE_REGISTRY_BACKOFF", "0.01")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    return MlflowHook("none", tracking_uri=f"http://127.0.0.1:{port}")


def test_unreachable_registry_fails_clearly_after_retries(closed_port_hook):
    from driftline.registry.audit import history
    from driftline.registry.champion import get_champion
    from driftline.registry.promotion import promote

    with pytest.raises(
        RegistryError, match="model registry unavailable: read registered model 'churn' failed 2"
    ):
        get_champion(closed_port_hook, "churn")
    with pytest.raises(RegistryError, match=r"unavailable: list lock generations of .churn. failed 3"):
        promote(closed_port_hook, "churn", 2, 1, "r", "a", policy=FAST)
    with pytest.raises(RegistryError):
        history(closed_port_hook, "churn")


@pytest.mark.slow
def test_unknown_model_on_a_local_store(driftline_home):
    from driftline.hooks.mlflow import MlflowHook
    from driftline.registry.audit import history
    from driftline.registry.champion import get_champion
    from driftline.registry.promotion import promote, rollback

    hook = MlflowHook()  # the fixture's mlflow_default connection: SQLite under DRIFTLINE_HOME
    assert get_champion(hook, "nope") is None
    with pytest.raises(RegistryInputError, match="registered model 'nope' does not exist"):
        history(hook, "nope")
    with pytest.raises(RegistryInputError, match="registered model 'nope' does not exist"):
        rollback(hook, "nope", None, "r", "a")
    hook.client.create_registered_model("empty")
    assert get_champion(hook, "empty") is None
    with pytest.raises(RegistryInputError, match="has no version 3"):
        promote(hook, "empty", 3, None, "r", "a")
    assert hook.client.search_registered_models("name = '_driftline_lock.empty'") == []


@pytest.mark.slow
def test_operator_module_imports_nothing_heavy():
    code = (
        "import sys, driftline.operators.registry as m; "
        "heavy = [n for n in ('mlflow', 'sklearn', 'pandas', 'numpy') if n in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_operator_template_fields_and_bad_params(example_config):
    from types import SimpleNamespace

    from driftline.assets import champion_alias
    from driftline.operators.registry import (
        EvaluationGateOperator,
        RegisterModelOperator,
        RollbackOperator,
    )

    reg = RegisterModelOperator(task_id="register", model_config=example_config, training={"run_id": "x"})
    gate = EvaluationGateOperator(task_id="gate", model_config=example_config, registered={}, evaluation={})
    rb = RollbackOperator(task_id="rollback", model_config=example_config)
    assert reg.template_fields == ("training",) and reg.training == {"run_id": "x"}
    assert gate.template_fields == ("registered", "evaluation")
    assert champion_alias("churn") in gate.outlets and champion_alias("churn") in rb.outlets
    ctx = {"params": {"target_version": "two", "reason": ""}, "ti": SimpleNamespace(dag_id="d", run_id="r")}
    with pytest.raises(RegistryInputError, match="target_version must be an integer or null, got 'two'"):
        rb.execute(ctx)
