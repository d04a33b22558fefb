"""The package's layering: assets shared below operators and factory; no import runs back up."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow

OPERATOR_MODULES = (
    "driftline.operators.load",
    "driftline.operators.validate",
    "driftline.operators.labels",
    "driftline.operators.drift",
    "driftline.operators.drift_records",
    "driftline.operators.retrain",
    "driftline.operators.train",
    "driftline.operators.registry",
    "driftline.operators.summary",
)


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_operators_do_not_import_the_factory() -> None:
    loaded = _loaded_after("\n".join(f"import {m}" for m in OPERATOR_MODULES))
    assert "driftline.assets" in loaded
    assert not [m for m in loaded if m.startswith("driftline.factory")]


def test_assets_module_is_not_in_the_factory() -> None:
    import driftline.assets as assets

    assert assets.champion("churn").name == "driftline.churn.champion"
    assert not [m for m in _loaded_after("import driftline.assets") if m.startswith("driftline.factory")]


DOMAIN = ("data", "validation", "drift", "training", "registry", "monitoring", "cost")

BLOCKED_IMPORT = """
import importlib, pkgutil, sys

class NoAirflow:
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, NoAirflow())
import driftline
failed = []
for package in PACKAGES:
    pkg = importlib.import_module(f"driftline.{package}")
    for info in pkgutil.iter_modules(pkg.__path__, f"driftline.{package}."):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            failed.append(f"{info.name}: {exc!r}")
for name in ("driftline.exceptions", "driftline.alerting", "driftline.alerting.event", "driftline.alerting.record", "driftline.mlflow_store", "driftline.objectstore"):
    importlib.import_module(name)
print(failed)
"""


def test_the_domain_imports_without_airflow() -> None:
    code = f"PACKAGES = {DOMAIN!r}\n{BLOCKED_IMPORT}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_domain_has_no_airflow_import_anywhere() -> None:
    """Not even a lazy one inside a function: connections reach the domain as plain clients."""
    import ast
    from pathlib import Path

    import driftline

    root = Path(driftline.__file__).parent
    found = []
    for package in DOMAIN:
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                found += [
                    f"{path.relative_to(root)}:{node.lineno} {n}"
                    for n in names
                    if n.split(".")[0] == "airflow"
                ]
    assert found == []
