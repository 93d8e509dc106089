"""Transcripts told to the server's subscribers (:class:`TranscriptReady`) once each,
whichever process made them.

A server's own worker claims its transcript in the transaction that stores it and
publishes at once. ``switchboard recordings transcribe`` runs with no bus, so it leaves
its transcripts unclaimed; the NOTIFY their commit sends (migration 0032) wakes every
server process, and the first to claim one publishes it. The claim
(``transcripts.announced_at``) is the truth; the notification only a wake-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import asyncpg

from . import repository
from .events import TranscriptReady

__all__ = ["TRANSCRIPT_CHANNEL", "TranscriptAnnouncer", "ready_events"]

log = logging.getLogger("recording.announcing")

# NOTIFY channel of migration 0032's trigger on transcripts.
TRANSCRIPT_CHANNEL = "recording_transcript"


def ready_events(claimed: Sequence[repository.Announced]) -> list[TranscriptReady]:
    return [TranscriptReady(a.recording_id, a.call_id, a.word_count) for a in claimed]


class TranscriptAnnouncer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Callable[[], datetime],
        publish: Callable[[object], None],
    ) -> None:
        self._pool = pool
        self._now = clock
        self._publish = publish

    async def announce_pending(self) -> list[TranscriptReady]:
        """Claim every transcript nobody has told about yet, and tell."""
        async with self._pool.acquire() as conn:
            claimed = await repository.claim_announcements(conn, self._now())
        events = ready_events(claimed)
        for event in events:
            log.info(
                "transcript made elsewhere announced words=%d",
                event.words,
                extra={"recording_id": event.recording_id, "call_id": event.call_id},
            )
            self._publish(event)
        return events
