"""What the operator page does: status, offers, the cards, wrap-up, chats.

Every call takes the acting user and checks, through :class:`Access`, that they may
see or act on what they name; routing, the customer store and the text channels do the
rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from crm_connectors.access import Access, NotVisible
from crm_connectors.store import CustomerNotFound, CustomerStore
from routing.errors import InteractionNotFound
from routing.models import AgentState, AgentStatus, Interaction
from routing.runtime import RoutingRuntime
from server.auth import User
from text_channels.models import Conversation
from text_channels.services import ConversationNotFound, ConversationService

from . import repository
from .cards import CardBuilder, customer_json, entry_json

WRAPUP_SOURCE = "workspace.wrapup"
CUSTOMER_TIMELINE = 30


class NotAllowed(Exception):
    """The user sees it but may not do this to it."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the page shows, for a (re)load."""

    agent: AgentState | None
    offers: list[dict[str, Any]]
    holding: list[dict[str, Any]]


class WorkspaceService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        routing: RoutingRuntime,
        customers: CustomerStore,
        conversations: ConversationService,
        cards: CardBuilder,
        access: Access,
        clock: Callable[[], datetime],
    ) -> None:
        self._pool = pool
        self._routing = routing
        self._customers = customers
        self._conversations = conversations
        self._cards = cards
        self.access = access
        self._clock = clock

    # --- the agent ----------------------------------------------------------------------------

    async def snapshot(self, user: User) -> Snapshot:
        service = self._routing.service
        async with self._pool.acquire() as conn:
            try:
                agent = await service.agent_state(conn, user.id)
            except LookupError:
                return Snapshot(None, [], [])
            offers = []
            for offer in await service.open_offers(conn, user.id):
                card = await self._cards.build(conn, offer.interaction_id)
                offers.append(
                    {
                        "offer_id": offer.id,
                        "interaction_id": offer.interaction_id,
                        "channel": offer.channel,
                        "expires_at": offer.expires_at.isoformat(),
                        "card": card,
                    }
                )
            holding = [
                await self._cards.build(conn, interaction_id)
                for interaction_id in await repository.interactions_of_agent(conn, user.id)
            ]
        return Snapshot(agent, offers, holding)

    async def set_status(self, user: User, status: AgentStatus, reason: str | None) -> AgentState:
        async with self._pool.acquire() as conn:
            return await self._routing.service.set_agent_status(conn, user.id, status, reason)

    async def accept(self, user: User, offer_id: int) -> Interaction:
        # Operators accepting at once share a statement and its connection.
        return await self._routing.service.accept_from(self._pool, offer_id, user.id)

    async def decline(self, user: User, offer_id: int) -> Interaction:
        async with self._pool.acquire() as conn:
            return await self._routing.service.decline(conn, offer_id, user.id)

    async def wrapup(
        self, user: User, interaction_id: int, disposition: str, notes: str
    ) -> dict[str, Any]:
        """Notes and a disposition for an interaction the user handled; a call in wrap-up
        is finished with them, a text conversation still open is closed."""
        now = self._clock()
        async with self._pool.acquire() as conn:
            row = await repository.handled_by(conn, interaction_id)
            if row is None or row["agent_id"] != user.id:
                raise NotVisible(interaction_id)
            codes = {
                r["code"]: r["label"] for r in await repository.dispositions(conn, active_only=True)
            }
            if disposition not in codes:
                raise ValueError(f"unknown disposition {disposition!r}")
            async with conn.transaction():
                await repository.save_wrapup(conn, interaction_id, user.id, disposition, notes, now)
                await self._customers.add_timeline_entry(
                    conn,
                    row["customer_id"],
                    "note",
                    source=WRAPUP_SOURCE,
                    source_ref=str(interaction_id),
                    at=now,
                    summary=f"{codes[disposition]}: {notes}" if notes else codes[disposition],
                    data={"interaction_id": interaction_id, "disposition": disposition},
                    author_id=user.id,
                )
            state = row["state"]
            if state == "wrap_up":
                state = (
                    await self._routing.service.finish_wrapup(conn, interaction_id, user.id)
                ).state
        if state == "accepted" and row["channel"] not in ("voice", "callback"):
            conversation = await self._conversations.of_interaction(interaction_id)
            if conversation is not None and conversation.state == "open":
                await self._conversations.close(conversation.id, "agent", user.id)
                state = "completed"
        return {"interaction_id": interaction_id, "state": state, "disposition": disposition}

    # --- what the user may see ----------------------------------------------------------------

    async def card(self, user: User, interaction_id: int) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            try:
                interaction = await self._routing.service.get_interaction(conn, interaction_id)
            except InteractionNotFound:
                raise NotVisible(interaction_id) from None
            await self.access.check_interaction(
                conn, user, interaction_id, interaction.department_id
            )
            return await self._cards.build(conn, interaction_id)

    async def customer(self, user: User, customer_id: int) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            await self.access.check_customer(conn, user, customer_id)
            try:
                customer = await self._customers.get_customer(conn, customer_id)
            except CustomerNotFound:
                raise NotVisible(customer_id) from None
            timeline = await self._customers.timeline(conn, customer.id, CUSTOMER_TIMELINE)
        return {
            **customer_json(customer),
            "timeline": [entry_json(e) for e in timeline],
        }

    async def conversation(self, user: User, conversation_id: int, *, act: bool) -> Conversation:
        """A conversation the user sees (``act``: may answer, close, transfer, block)."""
        try:
            conversation = await self._conversations.get(conversation_id)
        except ConversationNotFound:
            raise NotVisible(conversation_id) from None
        async with self._pool.acquire() as conn:
            if conversation.interaction_id is None:
                raise NotVisible(conversation_id)
            interaction = await self._routing.service.get_interaction(
                conn, conversation.interaction_id
            )
            await self.access.check_interaction(
                conn, user, interaction.id, interaction.department_id
            )
            if act:
                holder = interaction.agent_id if interaction.state == "accepted" else None
                if not await self.access.may_act(conn, user, holder, interaction.department_id):
                    raise NotAllowed(
                        f"conversation {conversation_id} is not with you; accept it first"
                    )
        return conversation

    async def transfer_targets(self, user: User) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            departments = await self._routing.admin.list_departments(conn)
            agents = await repository.colleagues(conn, [])
        return {
            "departments": [{"id": d.id, "name": d.name} for d in departments],
            "agents": [
                {
                    "id": a["user_id"],
                    "name": a["display_name"] or a["username"],
                    "sip_endpoint": a["sip_endpoint"],
                    "status": a["status"],
                }
                for a in agents
                if a["user_id"] != user.id
            ],
        }

    async def departments_of(self, agent_id: int) -> list[int]:
        async with self._pool.acquire() as conn:
            return await repository.agent_departments(conn, agent_id)

    async def canned(self, user: User) -> list[asyncpg.Record]:
        async with self._pool.acquire() as conn:
            departments = (
                None
                if user.has_role("admin")
                else await repository.agent_departments(conn, user.id)
            )
            return await repository.canned_responses(conn, departments)

    async def dispositions(self) -> list[asyncpg.Record]:
        async with self._pool.acquire() as conn:
            return await repository.dispositions(conn, active_only=True)
