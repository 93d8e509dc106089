"""The customer store's domain: customers, their identities and tags, their timeline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from .identities import IdentityKind

TimelineKind = Literal["call", "callback", "voicemail", "chat", "message", "email", "note", "merge"]
TIMELINE_KINDS: tuple[TimelineKind, ...] = get_args(TimelineKind)


@dataclass(frozen=True, slots=True)
class Identity:
    kind: IdentityKind
    value: str


@dataclass(frozen=True, slots=True)
class Customer:
    id: int
    display_name: str
    responsible_agent_id: int | None
    identities: tuple[Identity, ...]
    created_at: datetime
    # Customers merged into this one (their ids still lead here).
    merged_ids: tuple[int, ...] = ()
    # Agents' labels for the person ("vip", "wholesale"), sorted.
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    id: int
    customer_id: int
    original_customer_id: int
    kind: TimelineKind
    at: datetime
    summary: str
    source: str
    source_ref: str | None
    author_id: int | None
    data: Mapping[str, Any] = field(default_factory=dict)
