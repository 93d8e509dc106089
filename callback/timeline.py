"""The customer's timeline gets every callback: requested, each attempt, the outcome.

Entries are keyed by request and step (``source_ref``), so an event seen twice writes
once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from crm_connectors.store import CustomerNotFound, CustomerStore

from .events import CallbackAttemptEnded, CallbackFinished, CallbackRequested, CallbackRescheduled

SOURCE = "callback"
_RESULT = {
    "ANSWER": "visitor answered",
    "BUSY": "visitor busy",
    "NOANSWER": "visitor did not answer",
    "CONGESTION": "visitor's number not reachable",
    "CHANUNAVAIL": "visitor's number not reachable",
    "CANCEL": "agent hung up before the visitor answered",
    "LOST": "call lost",
}


def describe(event: object) -> tuple[str, str, dict[str, Any]] | None:
    """(step, summary, data) of the entry an event makes."""
    if isinstance(event, CallbackRequested):
        when = f" for {event.scheduled_for.isoformat()}" if event.scheduled_for else ""
        return (
            "requested",
            f"Callback requested ({event.site}){when}",
            {
                "phone": event.phone,
                "site": event.site,
                "status": event.status,
            },
        )
    if isinstance(event, CallbackAttemptEnded):
        text = _RESULT.get(event.result, event.result.lower())
        return (
            f"attempt:{event.number}",
            f"Callback attempt {event.number}: {text}",
            {
                "agent_id": event.agent_id,
                "interaction_id": event.interaction_id,
                "call_id": event.call_id,
                "result": event.result,
            },
        )
    if isinstance(event, CallbackRescheduled):
        return (
            f"rescheduled:{event.attempts}",
            "Callback to be tried again",
            {"next_attempt_at": event.next_attempt_at.isoformat()},
        )
    if isinstance(event, CallbackFinished):
        return (
            "finished",
            f"Callback {event.status} ({event.outcome})",
            {
                "status": event.status,
                "outcome": event.outcome,
                "attempts": event.attempts,
            },
        )
    return None


class CallbackTimeline:
    EVENTS = (CallbackRequested, CallbackAttemptEnded, CallbackRescheduled, CallbackFinished)

    def __init__(self, pool: asyncpg.Pool, store: CustomerStore) -> None:
        self._pool = pool
        self._store = store

    def subscribe(self, subscribe: Callable[[type, Callable[[Any], Any]], Any]) -> list[Any]:
        return [subscribe(event_type, self.on_event) for event_type in self.EVENTS]

    async def on_event(self, event: Any) -> None:
        described = describe(event)
        if described is None:
            return
        step, summary, data = described
        async with self._pool.acquire() as conn:
            try:
                await self._store.add_timeline_entry(
                    conn, event.customer_id, "callback", source=SOURCE,
                    source_ref=f"{event.request_id}:{step}", at=event.at, summary=summary,
                    data={"request_id": event.request_id, **data},
                )  # fmt: skip
            except CustomerNotFound:
                return
