"""No private name crosses a module boundary (house rule 15): a name starting with `_` is used only
in the module that defines it; a helper two modules share is public."""

from __future__ import annotations

import ast
from pathlib import Path

import driftline

ROOT = Path(driftline.__file__).parent
REPO = ROOT.parents[1]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _crossings(path: Path, base: Path = REPO) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    modules: dict[str, str] = {}  # local name -> driftline module or name it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("driftline"):
                    modules[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("driftline"):
            for alias in node.names:
                if _private(alias.name):
                    found.append(
                        f"{path.relative_to(base)}:{node.lineno} from {node.module} import {alias.name}"
                    )
                modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            head = node.value
            while isinstance(head, ast.Attribute):
                head = head.value
            if isinstance(head, ast.Name) and head.id in modules:
                found.append(f"{path.relative_to(base)}:{node.lineno} {modules[head.id]}.{node.attr}")
    return found


def test_no_private_name_is_imported_from_another_module() -> None:
    paths = [*ROOT.rglob("*.py"), *(REPO / "dags").rglob("*.py"), *(REPO / "benchmarks").rglob("*.py")]
    assert [hit for path in sorted(paths) for hit in _crossings(path)] == []


def test_the_scan_sees_both_forms(tmp_path: Path) -> None:
    path = tmp_path / "sample.py"
    path.write_text(
        "from driftline.inference.runs import _plain\nfrom driftline.cost import roi\nroi._pct(1.0)\n",
        encoding="utf-8",
    )
    found = [hit.split(" ", 1)[1] for hit in _crossings(path, tmp_path)]
    assert found == ["from driftline.inference.runs import _plain", "driftline.cost.roi._pct"]


def test_one_error_code_reads_mlflow_and_botocore_errors() -> None:
    from botocore.exceptions import ClientError
    from driftline.exceptions import error_code
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

    boto = ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "no"}}, "PutItem")
    assert error_code(boto) == "ConditionalCheckFailedException"
    assert (
        error_code(MlflowException("gone", error_code=RESOURCE_DOES_NOT_EXIST)) == "RESOURCE_DOES_NOT_EXIST"
    )
    assert error_code(ValueError("plain")) is None
    assert error_code(ClientError({"Error": {}}, "PutItem")) is None
