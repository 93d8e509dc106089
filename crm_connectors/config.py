"""Configuration of the customer store (``[customers]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CustomersConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Country calling code for phone numbers written without one ("7", "49", "1"); empty:
    # such numbers are refused rather than guessed.
    default_country_code: str = Field("", pattern=r"^([1-9]\d{0,2})?$")
