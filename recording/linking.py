"""Stored recordings linked to their call in the journal, and the customer's timeline
told through :class:`RecordingLinked`.

The journal row (written at the hang-up by pbx) and the stored recording (converted
after it) come in either order, from any process. Both sides wake the linker: a
stored recording on the bus, a new journal row by NOTIFY after its commit
(migration 0031). Each run links whatever has both halves, so whichever comes second
makes the link; the claim in ``repository.link_pending`` reports each link once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg

from . import repository
from .events import RecordingLinked, RecordingStored

__all__ = ["LINK_CHANNEL", "RecordingLinker"]

log = logging.getLogger("recording.linking")

# NOTIFY channel of migration 0031's trigger on calls: a wake-up, the tables are the truth.
LINK_CHANNEL = "recording_link"


class RecordingLinker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Callable[[], datetime],
        publish: Callable[[object], None],
    ) -> None:
        self._pool = pool
        self._now = clock
        self._publish = publish

    def subscribe(self, subscribe: Callable[[type, Callable[[Any], Any]], Any]) -> Any:
        return subscribe(RecordingStored, self.on_stored)

    async def on_stored(self, _event: RecordingStored) -> None:
        await self.link_pending()

    async def link_pending(self) -> list[RecordingLinked]:
        now = self._now()
        async with self._pool.acquire() as conn:
            links = await repository.link_pending(conn, now)
        events = []
        for link in links:
            event = RecordingLinked(
                recording_id=link.recording_id,
                call_row_id=link.call_row_id,
                call_id=link.call_id,
                call_started_at=link.call_started_at,
                customer_id=link.customer_id,
                caller_number=link.caller_number,
                duration_s=link.duration_s,
                at=now,
            )
            log.info(
                "recording linked to the journal call_row_id=%d",
                link.call_row_id,
                extra={"recording_id": link.recording_id, "call_id": link.call_id},
            )
            self._publish(event)
            events.append(event)
        return events
