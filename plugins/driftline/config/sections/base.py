"""The base of every config section: unknown fields are errors (`Strict`), and shared patterns."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

MODEL_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"


class Strict(BaseModel):
    """Base: unknown fields are errors, values are validated on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
