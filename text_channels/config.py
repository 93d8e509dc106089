"""Configuration of text channels (``[text_channels]`` in the TOML file).

Standalone like the other feature sections: ``server.config`` hangs it under
``Config.text_channels``; until then the defaults serve.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Types a customer may send; each is checked against the file's first bytes too.
DEFAULT_FILE_TYPES = ("image/png", "image/jpeg", "image/gif", "application/pdf", "text/plain")


class TextChannelsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_text_chars: int = Field(2000, ge=1, le=4000)
    max_file_bytes: int = Field(5 * 2**20, ge=1, le=50 * 2**20)
    file_types: tuple[str, ...] = DEFAULT_FILE_TYPES
    # A customer may send rate_burst messages at once, then one per 1/rate_per_s seconds.
    rate_burst: int = Field(8, ge=1, le=1000)
    rate_per_s: float = Field(1.0, gt=0, le=1000)
