"""Fixtures for the gate tests: generated churn frames and configs derived from the example."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def generator(churn_generator):
    return churn_generator


@pytest.fixture
def clean_frame(generator):
    return generator.day_frame(dt.date(2026, 1, 5), 500, False, 42)


@pytest.fixture
def corrupt_frame(generator):
    return generator.corrupt(generator.day_frame(dt.date(2026, 1, 17), 500, False, 42), 42)


@pytest.fixture
def clean_config(example_config):
    """A copy of the example config that a test may change."""
    return example_config.model_copy(deep=True)
