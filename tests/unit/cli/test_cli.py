"""The `driftline` command: validate, schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from driftline.cli import main
from driftline.config.schema import SCHEMA_PATH, schema_text

REPO = Path(__file__).resolve().parents[3]


def test_validate_ok(capsys, example_config_path):
    assert main(["validate", str(example_config_path)]) == 0
    out = capsys.readouterr().out
    assert f"ok   {example_config_path} (model churn)" in out
    assert "1 valid, 0 invalid" in out


def test_validate_reports_every_error_and_exits_1(tmp_path, capsys, example_config_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        example_config_path.read_text()
        .replace("name: churn", "name: Churn")
        .replace("catchup: false", "catchup: maybe")
    )
    assert main(["validate", str(example_config_path), str(bad)]) == 1
    captured = capsys.readouterr()
    assert f"FAIL {bad}: 2 error(s)" in captured.err
    assert "  - model.name: must start with a lower-case letter" in captured.err
    assert "  - schedule.catchup: Input should be a valid boolean" in captured.err
    assert "1 valid, 1 invalid" in captured.out


def test_validate_console_script_exit_code(tmp_path):
    bad = tmp_path / "empty.yaml"
    bad.write_text("")
    exe = Path(sys.executable).with_name("driftline")
    result = subprocess.run([str(exe), "validate", str(bad)], capture_output=True, text=True)
    assert result.returncode == 1
    assert f"{bad}: 1 error(s)" in result.stderr


def test_schema_to_stdout(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Driftline model config"
    assert {"model", "data", "training"} <= set(schema["required"])


def test_committed_schema_is_in_sync():
    committed = (REPO / SCHEMA_PATH).read_text()
    assert committed == schema_text(), (
        "run `make schema` and commit include/schema/driftline-model.schema.json"
    )


def test_example_config_points_editors_at_the_schema(example_config_path):
    first = example_config_path.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../include/schema/driftline-model.schema.json"
    assert (
        (example_config_path.parent / "../../include/schema/driftline-model.schema.json").resolve().exists()
    )


@pytest.mark.slow
def test_render_pod_prints_a_schema_valid_gpu_pod(example_config_path):
    import yaml

    exe = Path(sys.executable).with_name("driftline")
    result = subprocess.run(
        [str(exe), "render-pod", str(example_config_path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    pod = yaml.safe_load(result.stdout)
    container = pod["spec"]["containers"][0]
    assert pod["kind"] == "Pod" and pod["metadata"]["namespace"] == "ml-training"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["spec"]["nodeSelector"] == {"workload": "training", "nvidia.com/gpu.product": "NVIDIA-A10G"}
    assert "valid against the Kubernetes 1.33 schema" in result.stderr


@pytest.mark.slow
def test_history_of_an_unknown_model_fails_clearly(driftline_home, capsys):
    assert main(["history", "nosuch"]) == 1
    err = capsys.readouterr().err
    assert "error: registered model 'nosuch' does not exist in the MLflow registry at sqlite:///" in err


@pytest.mark.slow
def test_history_prints_the_audit_trail(driftline_home, capsys):
    from driftline.hooks.mlflow import MlflowHook
    from driftline.registry.audit import history
    from driftline.registry.promotion import promote

    hook = MlflowHook()
    hook.client.create_registered_model("demo_model")
    assert main(["history", "demo_model"]) == 0
    assert capsys.readouterr().out == "no alias changes recorded\n"
    source = driftline_home / "artifacts"
    source.mkdir()
    hook.client.create_model_version("demo_model", source=source.as_uri())
    promote(hook, "demo_model", 1, expected_champion=None, reason="first model", actor="alice")
    assert [(e.alias, e.to_version, e.actor) for e in history(hook, "demo_model")] == [
        ("champion", 1, "alice")
    ]
    assert main(["history", "demo_model"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "data",
        "day",
        "seq",
        "when",
        "(UTC)",
        "alias",
        "change",
        "action",
        "actor",
        "reason",
    ]
    assert "champion" in out and "- -> v1" in out and "alice" in out and "first model" in out


def test_stdout_holds_the_report_alone(capsys, monkeypatch, example_config_path):
    """What a command's libraries print to stdout (Airflow logs there) goes to stderr."""
    import driftline.config.schema as schema
    from driftline.cli import main

    def noisy() -> str:
        print("[info     ] Creating initial MLflow database tables...")
        return '{"title": "schema"}\n'

    monkeypatch.setattr(schema, "schema_text", noisy)
    assert main(["schema"]) == 0
    captured = capsys.readouterr()
    assert captured.out == '{"title": "schema"}\n'
    assert "Creating initial MLflow database tables" in captured.err
