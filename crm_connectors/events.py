"""Domain events of the customer store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CustomersMerged:
    """``merged_id`` became part of ``kept_id``: its identities and timeline moved there."""

    kept_id: int
    merged_id: int
    at: datetime


CUSTOMER_EVENTS: tuple[type, ...] = (CustomersMerged,)
