"""The service tests reuse the inference fixtures (moto server, config, model, snapshot)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))

from conftest import (  # type: ignore[import-not-found]  # noqa: F401
    churn_days,
    churn_model,
    current_frame,
    ddb,
    ddb_endpoint,
    example_config_session,
    make_config,
    table_name,
    validated,
)
