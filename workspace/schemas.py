"""Request bodies of the workspace API, and the JSON of what it returns."""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, model_validator

from routing.models import AgentState
from text_channels.models import Conversation

from .calls import NUMBER

_REF = r"^[A-Za-z0-9_.:-]{1,64}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WrapupBody(_Body):
    disposition: str = Field(min_length=1, max_length=40)
    notes: str = Field("", max_length=4000)


class ChatMessageBody(_Body):
    text: str = Field(min_length=1, max_length=4000)
    ref: str | None = Field(None, pattern=_REF)


class TypingBody(_Body):
    on: bool


class ChatTransferBody(_Body):
    agent_id: int | None = Field(None, ge=1)
    department_id: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _a_target(self) -> ChatTransferBody:
        if self.agent_id is None and self.department_id is None:
            raise ValueError("give agent_id or department_id")
        return self


class BlockBody(_Body):
    reason: str = Field("", max_length=200)


class CallTargetBody(_Body):
    """An agent (by user id) or an outside number."""

    agent_id: int | None = Field(None, ge=1)
    number: str | None = Field(None, pattern=NUMBER.pattern)

    @model_validator(mode="after")
    def _one_target(self) -> CallTargetBody:
        if (self.agent_id is None) == (self.number is None):
            raise ValueError("give agent_id or number, one of them")
        return self


class CannedBody(_Body):
    title: str = Field(min_length=1, max_length=100)
    body: str = Field(min_length=1, max_length=4000)
    department_id: int | None = Field(None, ge=1)


class DispositionBody(_Body):
    label: str = Field(min_length=1, max_length=100)
    active: bool = True
    position: int = Field(0, ge=0, le=10_000)


def agent_json(state: AgentState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "status": state.status,
        "pause_reason": state.pause_reason,
        "status_changed_at": state.status_changed_at.isoformat(),
        "capacity": state.capacity,
        "load": state.load,
    }


def conversation_json(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id,
        "channel": c.channel,
        "customer_id": c.customer_id,
        "department_id": c.department_id,
        "interaction_id": c.interaction_id,
        "state": c.state,
        "opened_at": c.opened_at.isoformat(),
        "closed_at": c.closed_at.isoformat() if c.closed_at else None,
        "closed_by": c.closed_by,
        "csat": c.csat,
    }


def canned_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "body": row["body"],
        "department_id": row["department_id"],
    }


def disposition_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "code": row["code"],
        "label": row["label"],
        "active": row["active"],
        "position": row["position"],
    }
