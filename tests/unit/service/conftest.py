"""The service tests reuse the inference fixtures (moto server, config, model, snapshot)."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))

from conftest import (  # type: ignore[import-not-found]  # noqa: F401
    churn_days,
    churn_model,
    current_frame,
    ddb,
    ddb_endpoint,
    example_config_session,
    make_config,
    validated,
)

_tables = itertools.count()


@pytest.fixture
def table_name() -> str:
    """Names of their own: moto's state is per process, and the inference tests' counter (a second
    copy of their conftest module here) would hand out the same `preds-N` names in one session."""
    return f"svc-preds-{next(_tables)}"
