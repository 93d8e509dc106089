"""The calls this process's IVR is handling right now, and where each one is.

A call is known by its Linkedid (the journal's ``call_id``). Its phase says who has the
caller: the menu (an AGI session), the queue (waiting with music, an AGI session), the
agents' phones (the dialplan's Dial after our redirect), an agent (connected), or
nobody any more. Phases only change here, so that every subscriber sees one story.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from .menus import MenuSet

Phase = Literal["menu", "waiting", "ringing", "connected", "finished"]
Outcome = Literal[
    "served",
    "abandoned_in_ivr",
    "abandoned_in_queue",
    "voicemail",
    "forwarded",
    "callback_requested",
    "after_hours",
]


@dataclass(eq=False)
class LiveCall:
    call_id: str
    channel: str
    number: str
    caller_number: str | None
    caller_name: str | None
    started_at: datetime
    menus: MenuSet | None = None
    customer_id: int | None = None
    phase: Phase = "menu"
    path: list[str] = field(default_factory=list)
    outcome: Outcome | None = None
    interaction_id: int | None = None
    department_id: int | None = None
    enqueued_at: datetime | None = None
    # Open offers being rung: offer id → agent id.
    offers: dict[int, int] = field(default_factory=dict)
    agent_id: int | None = None
    # When an agent answered: the end of the caller's wait.
    connected_at: datetime | None = None
    # We asked Asterisk to move the channel: the AGI session that ends now was not
    # ended by the caller.
    redirecting: bool = False
    # An external number is being rung: if the call ends answered, it was forwarded.
    forwarding: bool = False
    # What to do next when the caller is back with us (an overflow target).
    pending: str | None = None
    # Agent id → monotonic time their phone failed at once (busy, unregistered).
    failed_phones: dict[int, float] = field(default_factory=dict)
    # The caller was told the call is recorded: once a call, whatever comes after.
    recording_announced: bool = False

    def step(self, what: str) -> None:
        self.path.append(what)

    def settle(self, outcome: Outcome) -> None:
        """The business outcome; the first one set stands."""
        if self.outcome is None:
            self.outcome = outcome

    def outcome_at_end(self) -> Outcome:
        """What the call was, once the caller is gone."""
        if self.outcome is not None:
            return self.outcome
        if self.phase == "connected":
            return "served"
        if self.phase in ("waiting", "ringing"):
            return "abandoned_in_queue"
        return "abandoned_in_ivr"


class CallRegistry:
    def __init__(self) -> None:
        self._calls: dict[str, LiveCall] = {}
        self._by_interaction: dict[int, LiveCall] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def add(self, call: LiveCall) -> LiveCall:
        """Register a call; a call seen before (back from the dialplan) stays as it was."""
        return self._calls.setdefault(call.call_id, call)

    def get(self, call_id: str) -> LiveCall | None:
        return self._calls.get(call_id)

    def by_interaction(self, interaction_id: int) -> LiveCall | None:
        return self._by_interaction.get(interaction_id)

    def queued(self, call: LiveCall, interaction_id: int, at: datetime) -> None:
        call.interaction_id = interaction_id
        call.enqueued_at = at
        call.phase = "waiting"
        self._by_interaction[interaction_id] = call

    def remove(self, call_id: str) -> LiveCall | None:
        call = self._calls.pop(call_id, None)
        if call is not None and call.interaction_id is not None:
            self._by_interaction.pop(call.interaction_id, None)
        return call
