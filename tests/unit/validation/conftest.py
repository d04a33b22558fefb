"""Fixtures for the gate tests: generated churn frames and configs derived from the example."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]


def _generator():
    spec = importlib.util.spec_from_file_location(
        "generate_churn_data", REPO_ROOT / "include" / "generate_churn_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def generator():
    return _generator()


@pytest.fixture
def clean_frame(generator):
    return generator.day_frame(dt.date(2026, 1, 5), 500, False, 42)


@pytest.fixture
def corrupt_frame(generator):
    return generator.corrupt(generator.day_frame(dt.date(2026, 1, 17), 500, False, 42), 42)


def tolerant(config):
    """The example config with monthly_charges allowing the generator's rare negative charges.

    The generator draws basic-plan charges from N(25, 8), so about 1 row in 1000 is negative and
    the example's strict `min_value: 0` fails most clean days (reported to the lead).
    """
    config = config.model_copy(deep=True)
    for expectation in config.validation.expectations:
        if expectation.kwargs.get("column") == "monthly_charges":
            expectation.kwargs["mostly"] = 0.99
    return config


@pytest.fixture
def clean_config(example_config):
    return tolerant(example_config)
