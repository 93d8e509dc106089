"""Domain events of the IVR, published on the bus once the fact is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class IvrCallEnded:
    """A call the IVR handled is over; ``outcome`` is its business outcome."""

    call_id: str
    number: str
    caller_number: str | None
    customer_id: int | None
    outcome: str
    ivr_path: tuple[str, ...]
    interaction_id: int | None
    started_at: datetime
    ended_at: datetime
    # Seconds in the queue (until an agent answered, or the call left it), for calls
    # that waited there.
    waited_s: float | None = None
    department_id: int | None = None
    # The agent who answered (outcome served).
    agent_id: int | None = None


@dataclass(frozen=True, slots=True)
class VoicemailLeft:
    voicemail_id: int
    call_id: str
    number: str
    caller_number: str | None
    customer_id: int | None
    department_id: int | None
    duration_s: float
    recorded_at: datetime
    # Who is told by e-mail.
    notify: tuple[str, ...] = ()
