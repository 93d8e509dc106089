"""Request bodies of the callback API, validated at the edge."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class CallbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    phone: str = Field(min_length=1, max_length=40)
    name: str = Field("", max_length=100)
    # The page the visitor was on (the widget sends location.href).
    page: str = Field("", max_length=500)
    comment: str = Field("", max_length=500)
    preferred_at: AwareDatetime | None = None
    # The honeypot: a field people never see, so never fill in.
    website: str = Field("", max_length=200)

    def preferred(self) -> datetime | None:
        return self.preferred_at
