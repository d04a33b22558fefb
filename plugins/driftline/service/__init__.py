"""The predictions service: a FastAPI app over the predictions tables, run by `driftline serve`."""

from __future__ import annotations
