"""Split plugins/driftline/config/models.py by section into plugins/driftline/config/sections/.

Mechanical: every top-level class, alias and constant moves as it is, in file order, to the module
of its section (the `# --- <section> ---` comments of models.py name them; the later-release
sections are placed by class name below). models.py keeps `ModelConfig` (it ties the sections
together) and re-exports every public name, so `from driftline.config.models import X` keeps
working. Re-runnable: when another branch added fields to the monolithic models.py, take that
file and run this script again (then `ruff check --fix`, `ruff format` and `make schema`:
the schema must come out byte-identical).

    .venv/bin/python scripts/split_config_models.py
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "plugins" / "driftline" / "config"
SOURCE = CONFIG / "models.py"

# `# --- <title> ---` in models.py -> module under config/sections/
SECTION_MODULES = {
    "identity and schedule": "identity",
    "data": "data",
    "validation": "validation",
    "drift": "drift",
    "training": "training",
    "registry": "registry",
    "compute engine": "compute",
}
# The "sections built by later releases" block holds several sections: placed by name, and every
# statement after a named one goes with it (a helper below its class stays with its class).
NAMED = {
    "Arm": "experiments",
    "OutcomesSection": "experiments",
    "InferenceSection": "inference",
    "AlertKind": "alerts",
    "PriceTable": "cost",
}
BASE_NAMES = {"Strict", "MODEL_NAME_PATTERN"}  # shared by every section: config/sections/base.py
STAYS = {"ModelConfig", "NOT_SUPPORTED_YET", "_ON"}  # the whole-file model stays in models.py

DOCS = {
    "base": "The base of every config section: unknown fields are errors (`Strict`), and shared patterns.",
    "identity": "The `model` and `schedule` sections: what the model is called and when its pipeline runs.",
    "data": "The `data` section: where windows are read from (local, S3, SQL), features, labels, waits.",
    "validation": "The `validation` section: the expectations a window must meet.",
    "drift": "The `drift` section: what is compared, with which statistic, and what a decision needs.",
    "training": "The `training` section: the estimator, the split, and where training runs (local or a pod).",
    "registry": "The `registry` section: the gate's metric and rule, and approvals.",
    "experiments": "The `ab_test` section: the A/B experiment's arms, outcomes and decision rule.",
    "inference": "The `inference` section: batch predictions into DynamoDB.",
    "alerts": "The `alerts` section: alert kinds, channels, rules and the freshness objective.",
    "cost": "The `cost` section: price tables, worker shares and budgets.",
    "compute": "The `compute` section: where data steps run (pandas, duckdb, spark).",
}
ORDER = list(DOCS)


def _names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.ClassDef | ast.FunctionDef):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _used(node: ast.AST) -> set[str]:
    found = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    for n in ast.walk(node):  # names inside string annotations (from __future__ import annotations)
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            found |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", n.value))
    for n in ast.walk(node):
        if isinstance(n, ast.arg | ast.AnnAssign | ast.FunctionDef):
            ann = getattr(n, "annotation", None) or getattr(n, "returns", None)
            if ann is not None:
                found |= {m.id for m in ast.walk(ann) if isinstance(m, ast.Name)}
    return found


def main() -> int:
    text = SOURCE.read_text(encoding="utf-8")
    if "from driftline.config.sections" in text:
        print("models.py is already split: check out the monolithic models.py first", file=sys.stderr)
        return 1
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    header_end = max(n.end_lineno or 0 for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom))
    header_imports = "".join(lines[tree.body[1].lineno - 1 : header_end])  # after the docstring
    markers = {
        i + 1: m.group(1).strip()
        for i, line in enumerate(lines)
        if (m := re.match(r"^# --- (.+?) -+\s*$", line))
    }

    chunks: dict[str, list[tuple[list[str], str]]] = {name: [] for name in [*ORDER, "models"]}
    defined: dict[str, str] = {}
    section = None
    module = "base"
    prev_end = header_end
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom) or node is tree.body[0]:
            continue
        start = node.lineno - 1
        if isinstance(node, ast.ClassDef) and node.decorator_list:
            start = node.decorator_list[0].lineno - 1
        for line_no in sorted(markers):
            if prev_end < line_no <= start + 1:
                section = markers[line_no]
                if section in SECTION_MODULES:
                    module = SECTION_MODULES[section]
        # comments directly above the statement travel with it
        while start > prev_end and lines[start - 1].startswith("#") and (start) not in markers:
            start -= 1
        names = _names(node)
        if set(names) & STAYS:
            target = "models"
        elif set(names) & BASE_NAMES:
            target = "base"
        elif names and names[0] in NAMED:
            module = NAMED[names[0]]
            target = module
        else:
            target = module if section is not None else "base"
        body = "".join(lines[start : node.end_lineno])
        chunks[target].append((names, body))
        for name in names:
            defined[name] = target
        prev_end = node.end_lineno or prev_end

    # helpers above the first section (e.g. the cron patterns) go to the first section that uses them
    for names, code in list(chunks["base"]):
        if set(names) & BASE_NAMES:
            continue
        user = next(
            (m for m in ORDER[1:] if any(set(names) & _used(ast.parse(c)) for _, c in chunks[m])), None
        )
        if user is not None:
            chunks["base"].remove((names, code))
            chunks[user].insert(0, (names, code))
            for name in names:
                defined[name] = user

    sections = CONFIG / "sections"
    sections.mkdir(exist_ok=True)
    for module in ORDER:
        if not chunks[module]:
            continue
        body = "\n\n".join(code.rstrip("\n") + "\n" for _, code in chunks[module])
        used = _used(ast.parse(body))
        own = {n for names, _ in chunks[module] for n in names}
        imports: dict[str, set[str]] = {}
        for name in sorted(used - own):
            if name in defined and defined[name] not in ("models", module):
                imports.setdefault(defined[name], set()).add(name)
        local = "".join(
            f"from driftline.config.sections.{m} import {', '.join(sorted(ns))}\n"
            for m, ns in sorted(imports.items())
        )
        out = f'"""{DOCS[module]}"""\n\n{header_imports}{local}\n\n{body}'
        (sections / f"{module}.py").write_text(out, encoding="utf-8")

    init = '"""The config contract by section: one module per section of a model\'s YAML file (see config.models)."""\n\nfrom __future__ import annotations\n'
    (sections / "__init__.py").write_text(init, encoding="utf-8")

    docstring = ast.get_docstring(tree) or ""
    exported = {m: sorted(n for names, _ in chunks[m] for n in names if not n.startswith("_")) for m in ORDER}
    reexports = "".join(
        f"from driftline.config.sections.{m} import (\n" + "".join(f"    {n},\n" for n in names) + ")\n"
        for m, names in exported.items()
        if names
    )
    every = sorted({n for names in exported.values() for n in names} | {"ModelConfig", "NOT_SUPPORTED_YET"})
    reexports += "\n__all__ = [\n" + "".join(f'    "{n}",\n' for n in every) + "]\n"
    models_body = "\n\n".join(code.rstrip("\n") + "\n" for _, code in chunks["models"])
    new_doc = (
        docstring
        + "\n\nThe sections live in `driftline.config.sections` (one module each); this module holds\n"
        "`ModelConfig`, which ties them together, and re-exports every section's names, so\n"
        "`from driftline.config.models import ...` keeps working."
    )
    SOURCE.write_text(f'"""{new_doc}\n"""\n\n{header_imports}{reexports}\n\n{models_body}', encoding="utf-8")
    ruff = ROOT / ".venv" / "bin" / "ruff"
    targets = [str(SOURCE), str(sections)]
    subprocess.run([str(ruff), "check", "--fix", "-q", *targets], check=False)  # noqa: S603
    subprocess.run([str(ruff), "format", "-q", *targets], check=True)  # noqa: S603
    return 0


if __name__ == "__main__":
    sys.exit(main())
