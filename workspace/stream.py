"""The items of an operator's stream: what the hub persists, numbers and sends. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An item on its way to a user's stream, before it has a sequence number.

    ``user_id`` names the recipient; or ``holder_of`` names an interaction, and the
    recipient is the agent holding it when the item is stored (so an item about a chat
    reaches whoever holds the chat at that moment, never one who gave it up before).
    """

    kind: str
    payload: Mapping[str, Any]
    user_id: int | None = None
    holder_of: int | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        if (self.user_id is None) == (self.holder_of is None):
            raise ValueError("an item goes to a user or to an interaction's holder")


@dataclass(frozen=True, slots=True)
class StreamItem:
    """A stored item: the ``seq``-th of its user's stream."""

    user_id: int
    seq: int
    kind: str
    payload: Mapping[str, Any]
    at: datetime

    def wire(self) -> str:
        return json.dumps(
            {"seq": self.seq, "type": self.kind, "at": self.at.isoformat(), "data": self.payload},
            separators=(",", ":"),
        )


@dataclass(frozen=True, slots=True)
class Ephemeral:
    """Live only, never stored nor replayed: a typing indicator is stale a second later."""

    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)

    def wire(self) -> str:
        return json.dumps({"type": self.kind, "data": self.payload}, separators=(",", ":"))


def number_items(
    batch: list[tuple[int, Outgoing]], last_seq: Mapping[int, int]
) -> list[tuple[int, int, Outgoing]]:
    """(user, seq, item) for a batch of (user, item) given each user's new last sequence
    number: the user's items take the numbers up to it, in batch order."""
    counts: dict[int, int] = {}
    for user_id, _ in batch:
        counts[user_id] = counts.get(user_id, 0) + 1
    next_seq = {user_id: last_seq[user_id] - n + 1 for user_id, n in counts.items()}
    numbered = []
    for user_id, item in batch:
        numbered.append((user_id, next_seq[user_id], item))
        next_seq[user_id] += 1
    return numbered
