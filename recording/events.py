"""Domain events of recording, published on the bus once the database says so.

Subscribers link them to the call journal and the customer's history and push them
to CRMs; recording itself knows none of those.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RecordingStored:
    recording_id: int
    call_id: str | None
    department_id: int | None
    storage_key: str
    format: str
    duration_s: float
    size_bytes: int
    sha256: str
    at: datetime


@dataclass(frozen=True)
class RecordingFailed:
    recording_id: int
    call_id: str | None
    reason: str


@dataclass(frozen=True)
class TranscriptReady:
    recording_id: int
    call_id: str | None
    words: int


@dataclass(frozen=True)
class RecordingLinked:
    """A stored recording is now the recording of its call in the journal: what the
    customer's timeline notes (``customer_id`` when routing knew the customer, else the
    caller's number to resolve them by)."""

    recording_id: int
    call_row_id: int
    call_id: str
    call_started_at: datetime
    customer_id: int | None
    caller_number: str | None
    duration_s: float
    at: datetime
