"""Validated query parameters of the call journal API."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Disposition = Literal["answered", "no_answer", "busy", "cancelled", "failed"]
Outcome = Literal[
    "served",
    "abandoned_in_ivr",
    "abandoned_in_queue",
    "voicemail",
    "forwarded",
    "callback_requested",
    "after_hours",
]


class CallListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    since: AwareDatetime | None = Field(None, alias="from")
    until: AwareDatetime | None = Field(None, alias="to")
    # Caller, destination or answering number.
    number: str | None = Field(None, min_length=1, max_length=64)
    # An agent's SIP endpoint: calls their phone took part in.
    agent: str | None = Field(None, min_length=1, max_length=40)
    disposition: Disposition | None = None
    outcome: Outcome | None = None
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=500)
    format: Literal["json", "csv"] = "json"
