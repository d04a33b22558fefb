"""Alerting lives in one package, `driftline.alerting`, whose modules import each other without a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import driftline

ROOT = Path(driftline.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every driftline module `path` imports, lazy imports inside functions included."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("driftline")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("driftline"):
            module = node.module or ""
            for alias in node.names:  # `from driftline.alerting import dedupe` names a module
                sub = f"{module}.{alias.name}"
                out.add(sub if (ROOT.parent / (sub.replace(".", "/") + ".py")).exists() else module)
    return out


def test_the_alerting_modules_import_each_other_without_a_cycle() -> None:
    # the package's modules, and the top-level modules alerting lived in before
    paths = {
        f"driftline.alerting.{p.stem}": p for p in (ROOT / "alerting").glob("*.py") if p.stem != "__init__"
    }
    paths |= {f"driftline.{name}": ROOT / f"{name}.py" for name in ("alerts", "notifiers")}
    graph = {name: {m for m in _imports(p) if m in paths} for name, p in paths.items() if p.exists()}
    seen: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        if seen.get(node) == "open":
            raise AssertionError("import cycle: " + " -> ".join([*trail, node]))
        if seen.get(node) == "done":
            return
        seen[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*trail, node])
        seen[node] = "done"

    for node in sorted(graph):
        visit(node, [])


def test_no_alerting_module_outside_the_package() -> None:
    assert not (ROOT / "alerts.py").exists()
    # driftline/notifiers.py is only the old class path of the failure notifier, nothing else
    shim = ast.parse((ROOT / "notifiers.py").read_text(encoding="utf-8"))
    assert [type(n).__name__ for n in shim.body] == ["Expr", "ImportFrom", "ImportFrom", "Assign"]


def test_the_old_notifier_path_names_the_same_class() -> None:
    from driftline.alerting.callbacks import AlertRecordNotifier
    from driftline.notifiers import AlertRecordNotifier as Old

    assert Old is AlertRecordNotifier


def test_the_package_exports_the_record_api() -> None:
    from driftline import alerting
    from driftline.alerting.record import emit_alert

    assert alerting.emit_alert is emit_alert
    assert {"AlertEvent", "Severity", "alerts_file", "emit_alert"} <= set(alerting.__all__)
