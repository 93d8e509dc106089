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
