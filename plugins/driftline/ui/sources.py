"""Where the page reads a stack's history: MLflow, Airflow's runs, the alert log.

Two sources exist:
- `stack`: the running stack itself. MLflow through the `mlflow_default` connection (the same
  connection the pipelines use), Airflow's runs through the API server's own database session,
  alerts from `DRIFTLINE_HOME/alerts/alerts.jsonl`.
- `demo`: the history `make demo` left in `DRIFTLINE_HOME/demo/` (its own SQLite MLflow store,
  its own Airflow SQLite database and alert log; see `driftline.demo.isolate`). Offered only when
  that folder holds an MLflow store. `make up` serves the stack, the demo keeps its own state, so
  the page shows either, chosen with `?source=`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftline.settings import driftline_home

STACK = "stack"
DEMO = "demo"
DEMO_MLFLOW_UI_PORT = 5001  # `make demo` prints `mlflow ui --port 5001 ...` to browse its store

SessionFactory = Callable[[], contextlib.AbstractContextManager[Any]]


@dataclass(frozen=True)
class Source:
    """One history the page can show."""

    name: str
    label: str
    tracking_uri: str
    alerts_file: Path
    airflow_session: SessionFactory
    mlflow_ui: str | None  # base URL of an MLflow UI serving this store, when there is one
    home: Path


def _airflow_db_session() -> contextlib.AbstractContextManager[Any]:
    """A session on the Airflow database of this process (the API server's own)."""
    from airflow.utils.session import create_session

    return create_session()


def sqlite_session_factory(db: Path) -> SessionFactory:
    """Read-only sessions on another Airflow SQLite database (the demo's)."""

    @contextlib.contextmanager
    def factory() -> Iterator[Any]:
        from sqlalchemy import create_engine
        from sqlalchemy.orm import Session

        engine = create_engine(f"sqlite:///file:{db}?mode=ro&uri=true")
        try:
            with Session(engine) as session:
                yield session
        finally:
            engine.dispose()

    return factory


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")


def redact_uri(text: str) -> str:
    """`text` with the user and password of every URL in it left out (`http://u:p@host` -> `http://host`).

    For URIs the page shows and for error messages, which often quote the URL they failed on.
    """
    return _USERINFO.sub(r"\1", text)


def _http_base(uri: str) -> str | None:
    return redact_uri(uri).rstrip("/") if uri.startswith(("http://", "https://")) else None


def stack_source(tracking_uri: str | None = None, home: Path | None = None) -> Source:
    """The running stack: MLflow from the `mlflow_default` connection, Airflow's own database."""
    home = home or driftline_home()
    if tracking_uri is None:
        from driftline.hooks.mlflow import MlflowHook

        tracking_uri = MlflowHook().tracking_uri
    return Source(
        name=STACK,
        label="This stack",
        tracking_uri=tracking_uri,
        alerts_file=home / "alerts" / "alerts.jsonl",
        airflow_session=_airflow_db_session,
        mlflow_ui=_http_base(tracking_uri),
        home=home,
    )


def demo_home(home: Path | None = None) -> Path:
    return (home or driftline_home()) / "demo"


def demo_source(home: Path | None = None) -> Source | None:
    """The demo's recorded history, or None when `make demo` has not run here."""
    root = demo_home(home)
    store = root / "mlflow" / "mlflow.db"
    if not store.exists():
        return None
    return Source(
        name=DEMO,
        label="Demo history (make demo)",
        tracking_uri=f"sqlite:///{store}",
        alerts_file=root / "alerts" / "alerts.jsonl",
        airflow_session=sqlite_session_factory(root / "airflow" / "airflow.db"),
        mlflow_ui=f"http://127.0.0.1:{DEMO_MLFLOW_UI_PORT}",
        home=root,
    )
