"""The validation gate: Great Expectations suites built from a model's config."""

from __future__ import annotations
