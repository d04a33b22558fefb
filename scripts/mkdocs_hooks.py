"""MkDocs hooks for the Driftline site (mkdocs.yml `hooks:`).

`nav` lists pages that other branches write (docs/concepts/concurrency.md, ...). Until those
branches are merged a page may be missing, and `mkdocs build --strict` would fail on the nav
entry alone. This hook drops nav entries whose file does not exist and logs each one it drops,
so a branch builds on its own and the merged tree shows every page. A link from a page's text
to a missing page still fails the strict build: only nav entries are forgiven.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.plugins.driftline")


def _prune(entries: list[Any], docs_dir: Path) -> list[Any]:
    kept: list[Any] = []
    for entry in entries:
        if isinstance(entry, str):
            item: Any = entry
            target: Any = entry
        elif isinstance(entry, dict) and len(entry) == 1:
            ((title, target),) = entry.items()
            if isinstance(target, list):
                children = _prune(target, docs_dir)
                if children:
                    kept.append({title: children})
                continue
            item = entry
        else:
            kept.append(entry)
            continue
        if isinstance(target, str) and "://" not in target and not (docs_dir / target).is_file():
            log.info("nav: %s is not in %s (yet): left out of the nav", target, docs_dir)
            continue
        kept.append(item)
    return kept


def on_config(config: Any, **_: Any) -> Any:
    if config.nav:
        config.nav = _prune(list(config.nav), Path(config.docs_dir))
    return config
