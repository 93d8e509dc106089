"""Domain events of calls, as the rest of Switchboard sees them (published on the bus).

A call is everything Asterisk groups under one ``Linkedid``; ``call_id`` is that
Linkedid. Times are timezone-aware. These types carry no AMI objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Disposition = Literal["answered", "no_answer", "busy", "cancelled", "failed"]
HangupBy = Literal["caller", "callee", "unknown"]
TransferKind = Literal["blind", "attended"]
Direction = Literal["inbound", "outbound", "internal"]


@dataclass(frozen=True, slots=True)
class Party:
    """One side of a call: a phone or a line, as its channel presented it."""

    number: str | None
    name: str | None
    channel: str


@dataclass(frozen=True, slots=True)
class Transfer:
    kind: TransferKind
    by_channel: str
    to: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A finished call: what the journal stores and the replay prints."""

    call_id: str
    caller: Party
    destination: str | None
    answered_by: Party | None
    disposition: Disposition
    hangup_by: HangupBy
    hangup_cause: int | None
    hangup_cause_text: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    transfers: tuple[Transfer, ...]
    # Every channel the call had, for "did this endpoint take part" questions.
    channels: tuple[str, ...]
    # The phones that rang for the caller (ring groups: several).
    rang: tuple[Party, ...]
    # True when Asterisk was out of sight when the call ended (resync closed it), so
    # the end time is when we noticed, not when it happened.
    closed_by_resync: bool = False

    @property
    def ring_seconds(self) -> float:
        until = self.answered_at or self.ended_at
        return max(0.0, (until - self.started_at).total_seconds())

    @property
    def talk_seconds(self) -> float:
        if self.answered_at is None:
            return 0.0
        return max(0.0, (self.ended_at - self.answered_at).total_seconds())


@dataclass(frozen=True, slots=True)
class CallStarted:
    call_id: str
    caller: Party
    destination: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class CallRinging:
    """A party's phone started ringing for this call."""

    call_id: str
    party: Party
    at: datetime


@dataclass(frozen=True, slots=True)
class CallAnswered:
    call_id: str
    party: Party
    at: datetime


@dataclass(frozen=True, slots=True)
class CallTransferred:
    call_id: str
    transfer: Transfer


@dataclass(frozen=True, slots=True)
class CallEnded:
    call_id: str
    record: CallRecord


CallEvent = CallStarted | CallRinging | CallAnswered | CallTransferred | CallEnded
