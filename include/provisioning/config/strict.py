"""The base of every config model: unknown keys are errors (a typo is never a silent default)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Frozen and closed: a config section once loaded is a value, and only known keys load."""

    model_config = ConfigDict(extra="forbid", frozen=True)
