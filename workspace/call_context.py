"""What the voice path knows about a live call that the card shows: the caller's number,
the IVR path and when the caller started waiting.

The IVR keeps it in memory while the call lasts (it is written to the journal only
when the call ends), so the card reads the IVR's registry of live calls: read-only,
through this one adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ivr.calls import CallRegistry


@dataclass(frozen=True, slots=True)
class CallFacts:
    call_id: str
    caller_number: str | None
    caller_name: str | None
    # The number the customer dialled.
    number: str
    ivr_path: tuple[str, ...]
    started_at: datetime
    enqueued_at: datetime | None


class CallContext(Protocol):
    def facts(self, interaction_id: int) -> CallFacts | None: ...


class IvrCallContext:
    def __init__(self, calls: CallRegistry) -> None:
        self._calls = calls

    def facts(self, interaction_id: int) -> CallFacts | None:
        call = self._calls.by_interaction(interaction_id)
        if call is None:
            return None
        return CallFacts(
            call_id=call.call_id,
            caller_number=call.caller_number,
            caller_name=call.caller_name,
            number=call.number,
            ivr_path=tuple(call.path),
            started_at=call.started_at,
            enqueued_at=call.enqueued_at,
        )


class NoCallContext:
    """Without the IVR: cards carry what routing and the customer store know."""

    def facts(self, interaction_id: int) -> CallFacts | None:
        return None
