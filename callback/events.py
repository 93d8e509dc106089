"""Domain events of the web callback, published on the bus once their transaction
commits. The timeline and the call journal are written by subscribers
(callback.timeline), keyed so that an event seen twice writes once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CallbackRequested:
    request_id: str
    customer_id: int
    site: str
    phone: str
    status: str
    # When it will be dialled, for a scheduled request.
    scheduled_for: datetime | None
    at: datetime


@dataclass(frozen=True, slots=True)
class CallbackAttemptEnded:
    request_id: str
    customer_id: int
    number: int
    agent_id: int
    interaction_id: int
    call_id: str
    # Asterisk's DIALSTATUS of the visitor's leg, or LOST.
    result: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CallbackRescheduled:
    request_id: str
    customer_id: int
    attempts: int
    next_attempt_at: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class CallbackFinished:
    request_id: str
    customer_id: int
    # completed, failed or cancelled.
    status: str
    outcome: str
    attempts: int
    at: datetime
