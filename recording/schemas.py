"""Validated query parameters of the recordings API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    q: str = Field(min_length=1, max_length=200)
    limit: int = Field(50, ge=1, le=200)


class AudioQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Save as a file instead of playing in the page.
    download: bool = False
