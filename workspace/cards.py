"""The customer card: who the customer is and what they did before, on every channel.

The screen-pop shows it when the agent's phone rings; the page shows it for every
offer and interaction. Built from routing (the interaction), the customer store
(identities, timeline) and, for calls, the IVR's facts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from crm_connectors.models import Customer, TimelineEntry
from crm_connectors.store import CustomerStore
from routing.models import Interaction
from routing.services import RoutingService

from .call_context import CallContext, CallFacts

TIMELINE_ON_CARD = 5
# Interaction references the card shows as they are (a callback's page and comment).
_CALLBACK_REFS = ("phone", "page", "comment", "name")


def _t(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def customer_json(customer: Customer) -> dict[str, Any]:
    phones = [i.value for i in customer.identities if i.kind == "phone"]
    return {
        "id": customer.id,
        "name": customer.display_name,
        "phones": phones,
        "identities": [{"kind": i.kind, "value": i.value} for i in customer.identities],
        "tags": list(customer.tags),
        "responsible_agent_id": customer.responsible_agent_id,
    }


def entry_json(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "at": _t(entry.at),
        "summary": entry.summary,
        "interaction_id": entry.data.get("interaction_id"),
        # Playable by those the recording API lets hear it (recording.access).
        "recording_id": entry.data.get("recording_id"),
    }


def card_json(
    interaction: Interaction,
    customer: Customer,
    timeline: Sequence[TimelineEntry],
    call: CallFacts | None,
    conversation_id: int | None,
) -> dict[str, Any]:
    refs = dict(interaction.external_refs)
    number = call.caller_number if call is not None else refs.get("phone")
    if number is None:
        number = next((i.value for i in customer.identities if i.kind == "phone"), None)
    enqueued_at = interaction.enqueued_at
    return {
        "interaction_id": interaction.id,
        "channel": interaction.channel,
        "state": interaction.state,
        "department_id": interaction.department_id,
        "enqueued_at": _t(enqueued_at),
        "number": number,
        "customer": customer_json(customer),
        # The last contacts before this one.
        "timeline": [
            entry_json(e) for e in timeline if e.data.get("interaction_id") != interaction.id
        ][:TIMELINE_ON_CARD],
        "ivr_path": list(call.ivr_path) if call is not None else [],
        "dialled": call.number if call is not None else None,
        "callback": {k: refs[k] for k in _CALLBACK_REFS if k in refs}
        if interaction.channel == "callback"
        else None,
        "conversation_id": conversation_id,
    }


class CardBuilder:
    def __init__(
        self,
        routing: RoutingService,
        customers: CustomerStore,
        calls: CallContext,
        clock: Callable[[], datetime],
    ) -> None:
        self._routing = routing
        self._customers = customers
        self._calls = calls
        self._clock = clock

    async def build(self, conn: asyncpg.Connection, interaction_id: int) -> dict[str, Any]:
        interaction = await self._routing.get_interaction(conn, interaction_id)
        customer = await self._customers.get_customer(conn, interaction.customer_id)
        # One more than shown: this interaction's own entries are left out.
        timeline = await self._customers.timeline(conn, customer.id, TIMELINE_ON_CARD + 3)
        conversation = interaction.external_refs.get("conversation_id")
        return card_json(
            interaction,
            customer,
            timeline,
            self._calls.facts(interaction_id),
            int(conversation) if conversation and conversation.isdigit() else None,
        )
