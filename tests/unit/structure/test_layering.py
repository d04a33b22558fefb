"""The package's layering: assets shared below operators and factory; no import runs back up."""

from __future__ import annotations

import subprocess
import sys

OPERATOR_MODULES = (
    "driftline.operators.load",
    "driftline.operators.validate",
    "driftline.operators.labels",
    "driftline.operators.drift",
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
