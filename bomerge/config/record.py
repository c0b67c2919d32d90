"""The base of every config section: unknown keys are errors, values are validated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
