"""The customer's timeline gets every call the IVR handled, and every voicemail.

A call is one entry, written when it ends: what became of it (the business outcome),
the way through the menus, the department, the agent who answered, how long the caller
waited and how long the call lasted — the whole contact, not its steps. The steps of
the call's voice interaction (queued, taken, completed) are routing's facts; written
as timeline entries of their own (crm_connectors.timeline) they repeat parts of this
one, which is why the voice path's entry carries everything they say.

Entries are keyed by call and voicemail (``source_ref``), so an event seen twice
writes once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from crm_connectors.store import CustomerNotFound, CustomerStore

from .events import IvrCallEnded, VoicemailLeft

SOURCE = "ivr"
_SUMMARY = {
    "served": "Call answered by an agent",
    "abandoned_in_ivr": "Call ended in the menu",
    "abandoned_in_queue": "Caller hung up while waiting",
    "voicemail": "Call ended with a voicemail",
    "forwarded": "Call forwarded",
    "callback_requested": "Caller asked to be called back",
    "after_hours": "Call after hours",
}


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


def summary(event: IvrCallEnded) -> str:
    """One line for the whole call: "Call answered by agent 7 after 0:12 waiting (2:40)"."""
    text = _SUMMARY.get(event.outcome, event.outcome)
    if event.outcome == "served" and event.agent_id is not None:
        text = f"Call answered by agent {event.agent_id}"
    if event.waited_s is not None:
        if event.outcome == "abandoned_in_queue":
            text = "Caller hung up"
        text += f" after {_minutes(event.waited_s)} waiting"
    return f"{text} ({_minutes((event.ended_at - event.started_at).total_seconds())})"


class IvrTimeline:
    def __init__(self, pool: asyncpg.Pool, store: CustomerStore) -> None:
        self._pool = pool
        self._store = store

    def subscribe(self, subscribe: Callable[[type, Callable[[Any], Any]], Any]) -> None:
        subscribe(IvrCallEnded, self.on_call_ended)
        subscribe(VoicemailLeft, self.on_voicemail)

    async def on_call_ended(self, event: IvrCallEnded) -> None:
        if event.customer_id is None:
            return
        data = {
            "call_id": event.call_id,
            "number": event.number,
            "outcome": event.outcome,
            "ivr_path": list(event.ivr_path),
            "interaction_id": event.interaction_id,
            "department_id": event.department_id,
            "agent_id": event.agent_id,
            "duration_s": round((event.ended_at - event.started_at).total_seconds(), 1),
            "waited_s": None if event.waited_s is None else round(event.waited_s, 1),
        }
        await self._write(
            event.customer_id, "call", f"call:{event.call_id}", event.started_at,
            summary(event), data,
        )  # fmt: skip

    async def on_voicemail(self, event: VoicemailLeft) -> None:
        if event.customer_id is None:
            return
        data = {
            "voicemail_id": event.voicemail_id,
            "call_id": event.call_id,
            "department_id": event.department_id,
            "duration_s": round(event.duration_s, 1),
        }
        await self._write(
            event.customer_id, "voicemail", f"voicemail:{event.voicemail_id}",
            event.recorded_at, f"Voicemail of {event.duration_s:.0f} s", data,
        )  # fmt: skip

    async def _write(
        self, customer_id: int, kind: str, ref: str, at: Any, summary: str, data: dict[str, Any]
    ) -> None:
        async with self._pool.acquire() as conn:
            try:
                await self._store.add_timeline_entry(
                    conn, customer_id, kind, source=SOURCE, source_ref=ref, at=at,
                    summary=summary, data=data,
                )  # fmt: skip
            except CustomerNotFound:
                return
