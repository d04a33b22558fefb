"""The documentation site: the config reference follows the schema, the strict build passes,
the README keeps its quick start and its links resolve."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[3]


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_reference_is_generated_from_the_current_schema() -> None:
    script = REPO / "scripts" / "config_reference.py"
    result = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_config_reference_check_fails_on_a_stale_page(tmp_path: Path) -> None:
    reference = _load(REPO / "scripts" / "config_reference.py")
    stale = tmp_path / "config.md"
    stale.write_text(
        (REPO / "docs" / "reference" / "config.md").read_text().replace("| `table` |", "| `tabel` |")
    )
    assert reference.main(["--check", "--out", str(stale)]) == 1


def test_config_reference_lists_every_field_of_every_section() -> None:
    import json

    schema = json.loads((REPO / "include" / "schema" / "driftline-model.schema.json").read_text())
    page = (REPO / "docs" / "reference" / "config.md").read_text()
    for name, node in schema["$defs"].items():
        assert f"## {name}\n" in page, name
        for field in node.get("properties", {}):
            assert f"| `{field}` |" in page, f"{name}.{field}"


def test_nav_hook_drops_only_missing_pages(tmp_path: Path) -> None:
    hooks = _load(REPO / "scripts" / "mkdocs_hooks.py")
    (tmp_path / "a.md").write_text("# a\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("# b\n")
    nav = [
        {"A": "a.md"},
        {"Group": [{"B": "sub/b.md"}, {"Missing": "sub/missing.md"}]},
        {"Empty": [{"Gone": "gone.md"}]},
        {"Site": "https://example.org/"},
    ]
    assert hooks._prune(nav, tmp_path) == [
        {"A": "a.md"},
        {"Group": [{"B": "sub/b.md"}]},
        {"Site": "https://example.org/"},
    ]


def test_readme_keeps_the_quick_start_and_its_links_resolve() -> None:
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "SECURITY.md" in readme
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme):
        if target == "SECURITY.md":
            continue  # written on the security branch; merged by the lead
        assert (REPO / target).exists(), f"README.md links to {target}, which does not exist"


@pytest.mark.slow
@pytest.mark.docs  # 3-5 s here (28 s once under a load average of 35): not slow
def test_docs_site_builds_strict(tmp_path: Path) -> None:
    """`make docs`: every page link resolves and no page is left out of the nav (strict)."""
    mkdocs = Path(sys.executable).parent / "mkdocs"
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "site" / "reference" / "config" / "index.html").is_file()
    assert (tmp_path / "site" / "tutorial" / "index.html").is_file()
