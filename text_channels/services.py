"""Conversations on text channels: what customers send, what agents answer, closing,
rating, transfer and blocking — the same for every channel.

A customer's message is stored before anything else happens to it (the channel
acknowledges it only then). The first message of a contact opens a conversation and puts
it in the unified queue as an interaction of its channel, in one transaction with the
message; the ones after it continue the open conversation (a single statement). Events
are published once stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from crm_connectors.store import CustomerStore
from routing.models import NewInteraction
from routing.services import RoutingService
from routing.states import WAITING

from . import repository
from .adapter import ChannelAdapter, InboundMessage, NewAttachment, Notice, OutboundMessage
from .config import TextChannelsConfig
from .events import (
    AddressBlocked,
    ConversationClosed,
    ConversationOpened,
    ConversationRated,
    ConversationTransferred,
    CustomerTyping,
    MessageReceived,
    MessageSent,
    OfflineMessageLeft,
)
from .limits import Refusal, check_file, check_text
from .models import AttachmentRef, ClosedBy, Conversation, Message, TextChannel

log = logging.getLogger("text_channels")

# The customer store's identity kind of each channel's addresses.
IDENTITY_KIND: dict[str, str] = {
    "webchat": "webchat",
    "telegram": "telegram",
    "sms": "phone",
    "whatsapp": "whatsapp",
    "email": "email",
}
# How long a transferred conversation waits for the agent it was given to before any
# agent of the department may take it.
TRANSFER_STICKY_S = 60.0

Publish = Callable[[object], None]


class Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class ConversationNotFound(LookupError):
    def __init__(self, conversation_id: int) -> None:
        super().__init__(f"no conversation {conversation_id}")


class ConversationEnded(Exception):
    def __init__(self, conversation_id: int) -> None:
        super().__init__(f"conversation {conversation_id} is closed")


class NotOpen(Exception):
    """No open conversation, and none may be opened now (nobody available, after hours)."""


@dataclass(frozen=True, slots=True)
class Receipt:
    message: Message
    conversation_id: int
    # This message opened the conversation.
    opened: bool = False
    # Stored before (the same client_ref): acknowledged again, not stored twice.
    duplicate: bool = False


def conversation_from_row(row: asyncpg.Record) -> Conversation:
    return Conversation(
        id=row["id"],
        channel=row["channel"],
        address=row["address"],
        customer_id=row["customer_id"],
        department_id=row["department_id"],
        interaction_id=row["interaction_id"],
        source=row["source"],
        state=row["state"],
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        closed_by=row["closed_by"],
        csat=row["csat"],
    )


def message_from_row(row: asyncpg.Record) -> Message:
    attachment = (
        AttachmentRef(
            row["attachment_id"],
            row["attachment_name"],
            row["attachment_type"],
            row["attachment_size"],
        )
        if row["attachment_id"] is not None
        else None
    )
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        direction=row["direction"],
        author_id=row["author_id"],
        author_name=row["author_name"] if row["direction"] == "out" else "",
        body=row["body"],
        attachment=attachment,
        client_ref=row["client_ref"],
        at=row["created_at"],
    )


class ConversationService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        routing: RoutingService,
        customers: CustomerStore,
        publish: Publish,
        clock: Callable[[], datetime],
        config: TextChannelsConfig,
    ) -> None:
        self._pool = pool
        self._routing = routing
        self._customers = customers
        self._publish = publish
        self._clock = clock
        self.config = config
        self._adapters: dict[str, ChannelAdapter] = {}

    def register(self, adapter: ChannelAdapter) -> None:
        self._adapters[adapter.channel] = adapter

    # --- from customers ---------------------------------------------------------------------

    async def receive(
        self, inbound: InboundMessage, department_id: int, *, may_open: bool = True
    ) -> Receipt:
        """Store a customer's message in their open conversation, or open one (unless
        ``may_open`` is false: raises :class:`NotOpen`). Raises :class:`Refused`."""
        self._check(inbound.text, inbound.attachment)
        now = self._clock()
        async with self._pool.acquire() as conn:
            if await repository.is_blocked(conn, inbound.channel, inbound.address):
                raise Refused(Refusal("blocked", "you cannot send messages here"))
            if inbound.attachment is None:
                row = await repository.append_to_open(
                    conn, inbound.channel, inbound.address, inbound.text, inbound.client_ref, now
                )
                if row is not None:
                    message = Message(
                        id=row["id"],
                        conversation_id=row["conversation_id"],
                        direction="in",
                        author_id=None,
                        author_name="",
                        body=inbound.text,
                        attachment=None,
                        client_ref=inbound.client_ref,
                        at=row["created_at"],
                    )
                    self._publish(
                        MessageReceived(
                            inbound.channel, row["interaction_id"], row["customer_id"], message
                        )
                    )
                    return Receipt(message, row["conversation_id"])
            if inbound.client_ref is not None:
                seen = await repository.message_by_ref(
                    conn, inbound.channel, inbound.address, inbound.client_ref
                )
                if seen is not None:
                    return Receipt(message_from_row(seen), seen["conversation_id"], duplicate=True)
            return await self._receive_opening(conn, inbound, department_id, may_open, now)

    async def _receive_opening(
        self,
        conn: asyncpg.Connection,
        inbound: InboundMessage,
        department_id: int,
        may_open: bool,
        now: datetime,
    ) -> Receipt:
        """A message with a file, or the first of a conversation."""
        opened: ConversationOpened | None = None
        async with self._routing.transaction(conn):
            row = await repository.open_conversation(
                conn, inbound.channel, inbound.address, lock=True
            )
            if row is None:
                if not may_open:
                    raise NotOpen()
                row, opened = await self._open(conn, inbound, department_id, now)
            attachment_id = None
            if inbound.attachment is not None:
                attachment_id = await repository.insert_attachment(
                    conn,
                    row["id"],
                    inbound.attachment.name,
                    inbound.attachment.content_type,
                    inbound.attachment.data,
                )
            message_id = await repository.insert_message(
                conn,
                row["id"],
                "in",
                inbound.text,
                now,
                attachment_id=attachment_id,
                client_ref=inbound.client_ref,
            )
            assert message_id is not None
            message = message_from_row(await repository.get_message(conn, message_id))
        if opened is not None:
            self._publish(opened)
        self._publish(
            MessageReceived(inbound.channel, row["interaction_id"], row["customer_id"], message)
        )
        return Receipt(message, row["id"], opened=opened is not None)

    async def _open(
        self, conn: asyncpg.Connection, inbound: InboundMessage, department_id: int, now: datetime
    ) -> tuple[asyncpg.Record, ConversationOpened | None]:
        """The new conversation, queued; or the one another message opened meanwhile."""
        customer = await self._customers.resolve_customer(
            conn, IDENTITY_KIND[inbound.channel], inbound.address, inbound.display_name
        )
        try:
            async with conn.transaction():
                row = await repository.insert_conversation(
                    conn,
                    inbound.channel,
                    inbound.address,
                    customer.id,
                    department_id,
                    inbound.source,
                    now,
                )
        except asyncpg.UniqueViolationError:
            # The same contact's other message opened it a moment ago: continue that one.
            raced = await repository.open_conversation(
                conn, inbound.channel, inbound.address, lock=True
            )
            assert raced is not None
            return raced, None
        interaction = await self._routing.enqueue(
            conn,
            NewInteraction(
                channel=inbound.channel,
                customer_id=customer.id,
                department_id=department_id,
                external_refs={"conversation_id": str(row["id"])},
            ),
        )
        await repository.set_interaction(conn, row["id"], interaction.id, department_id)
        row = await repository.get_conversation(conn, row["id"])
        assert row is not None
        event = ConversationOpened(
            row["id"], inbound.channel, customer.id, department_id, interaction.id, now
        )
        return row, event

    async def customer_typing(self, channel: TextChannel, address: str, on: bool) -> None:
        async with self._pool.acquire() as conn:
            row = await repository.open_conversation(conn, channel, address)
        if row is not None:
            self._publish(CustomerTyping(row["id"], row["interaction_id"], on))

    async def rate(
        self, channel: TextChannel, address: str, conversation_id: int, score: int, comment: str
    ) -> Conversation:
        """The customer's rating of a closed conversation of theirs (once)."""
        if not 1 <= score <= 5:
            raise Refused(Refusal("rating", "a rating is 1 to 5"))
        if len(comment) > 1000:
            raise Refused(Refusal("too_long", "a comment may have at most 1000 characters"))
        now = self._clock()
        async with self._pool.acquire() as conn:
            current = await repository.get_conversation(conn, conversation_id)
            if current is None or (current["channel"], current["address"]) != (channel, address):
                raise ConversationNotFound(conversation_id)
            row = await repository.rate_conversation(conn, conversation_id, score, comment, now)
        if row is None:
            raise Refused(Refusal("rating", "only a closed conversation is rated, once"))
        conversation = conversation_from_row(row)
        self._publish(
            ConversationRated(
                conversation.id,
                conversation.customer_id,
                conversation.interaction_id,
                score,
                comment,
                now,
            )
        )
        return conversation

    async def leave_offline(
        self,
        inbound: InboundMessage,
        department_id: int | None,
        *,
        name: str,
        contact: str,
        reason: str,
    ) -> int | None:
        """A message left when nobody could chat; None when it was left already."""
        self._check(inbound.text, None)
        if len(name) > 200 or len(contact) > 320:
            raise Refused(Refusal("too_long", "the name or contact is too long"))
        now = self._clock()
        async with self._pool.acquire() as conn:
            if await repository.is_blocked(conn, inbound.channel, inbound.address):
                raise Refused(Refusal("blocked", "you cannot send messages here"))
            async with conn.transaction():
                customer = await self._customers.resolve_customer(
                    conn, IDENTITY_KIND[inbound.channel], inbound.address, name or None
                )
                offline_id = await repository.insert_offline(
                    conn,
                    channel=inbound.channel,
                    address=inbound.address,
                    source=inbound.source,
                    customer_id=customer.id,
                    department_id=department_id,
                    name=name,
                    contact=contact,
                    body=inbound.text,
                    reason=reason,
                    client_ref=inbound.client_ref,
                    at=now,
                )
                if offline_id is not None:
                    await self._customers.add_timeline_entry(
                        conn,
                        customer.id,
                        "message",
                        source="text_channels.offline",
                        source_ref=str(offline_id),
                        at=now,
                        summary=f"Offline message: {inbound.text[:200]}",
                        data={"name": name, "contact": contact, "reason": reason},
                    )
        if offline_id is not None:
            self._publish(
                OfflineMessageLeft(
                    offline_id, inbound.channel, customer.id, department_id, reason, now
                )
            )
        return offline_id

    # --- from agents --------------------------------------------------------------------------

    async def send(
        self,
        conversation_id: int,
        agent_id: int,
        text: str,
        *,
        attachment: NewAttachment | None = None,
        client_ref: str | None = None,
    ) -> Message:
        """An agent's message, stored, then handed to the channel."""
        self._check(text, attachment)
        now = self._clock()
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._open_row(conn, conversation_id)
            attachment_id = None
            if attachment is not None:
                attachment_id = await repository.insert_attachment(
                    conn, conversation_id, attachment.name, attachment.content_type, attachment.data
                )
            message_id = await repository.insert_message(
                conn,
                conversation_id,
                "out",
                text,
                now,
                author_id=agent_id,
                attachment_id=attachment_id,
                client_ref=client_ref,
            )
            if message_id is None:
                assert client_ref is not None
                seen = await repository.message_by_ref(
                    conn, row["channel"], row["address"], client_ref
                )
                assert seen is not None
                return message_from_row(seen)
            message = message_from_row(await repository.get_message(conn, message_id))
        self._publish(
            MessageSent(row["channel"], row["interaction_id"], row["customer_id"], message)
        )
        await self._adapter(row["channel"]).deliver(
            OutboundMessage(
                conversation_id,
                message.id,
                row["address"],
                text,
                message.author_name,
                message.attachment,
                now,
            )
        )
        return message

    async def agent_typing(self, conversation_id: int, on: bool) -> None:
        async with self._pool.acquire() as conn:
            row = await self._open_row(conn, conversation_id)
        await self._adapter(row["channel"]).notify(
            Notice(conversation_id, row["address"], "typing", on)
        )

    async def close(
        self, conversation_id: int, by: ClosedBy, agent_id: int | None = None
    ) -> Conversation:
        """Close the conversation and end its interaction: completed when an agent had
        it, abandoned when it was still waiting."""
        now = self._clock()
        async with self._pool.acquire() as conn:
            async with self._routing.transaction(conn):
                row = await repository.close_conversation(conn, conversation_id, by, now)
                if row is None:
                    await self._open_row(conn, conversation_id)
                assert row is not None
                holder = await self._end_interaction(conn, row["interaction_id"], by)
                await repository.insert_message(
                    conn, conversation_id, "system", f"closed by {by}", now, author_id=agent_id
                )
        conversation = conversation_from_row(row)
        self._publish(
            ConversationClosed(
                conversation.id,
                conversation.channel,
                conversation.customer_id,
                conversation.interaction_id,
                holder,
                by,
                now,
            )
        )
        await self._adapter(conversation.channel).notify(
            Notice(conversation.id, conversation.address, "closed")
        )
        return conversation

    async def _end_interaction(
        self, conn: asyncpg.Connection, interaction_id: int | None, by: ClosedBy
    ) -> int | None:
        """The agent who held it, if one did."""
        if interaction_id is None:
            return None
        interaction = await self._routing.get_interaction(conn, interaction_id)
        if interaction.state == "accepted":
            await self._routing.complete(conn, interaction_id)
        elif interaction.state in (*WAITING, "offered"):
            reason = "customer left" if by == "customer" else f"closed by {by}"
            await self._routing.abandon(conn, interaction_id, reason)
        return interaction.agent_id if interaction.state in ("accepted", "wrap_up") else None

    async def transfer(
        self,
        conversation_id: int,
        by_agent_id: int,
        *,
        department_id: int,
        to_agent_id: int | None = None,
    ) -> Conversation:
        """Hand the conversation to another department, or to one agent (who has it first
        for a while, then anyone of the department): its interaction is completed and a new
        one queued; the history stays with the conversation."""
        now = self._clock()
        async with self._pool.acquire() as conn:
            async with self._routing.transaction(conn):
                row = await self._open_row(conn, conversation_id, lock=True)
                old = row["interaction_id"]
                if old is not None:
                    await self._end_interaction(conn, old, "agent")
                interaction = await self._routing.enqueue(
                    conn,
                    NewInteraction(
                        channel=row["channel"],
                        customer_id=row["customer_id"],
                        department_id=department_id,
                        external_refs={"conversation_id": str(conversation_id)},
                        preferred_agent_id=to_agent_id,
                        sticky_s=TRANSFER_STICKY_S if to_agent_id is not None else None,
                    ),
                )
                await repository.set_interaction(
                    conn, conversation_id, interaction.id, department_id
                )
                await repository.insert_message(
                    conn, conversation_id, "system", "transferred", now, author_id=by_agent_id
                )
                row = await repository.get_conversation(conn, conversation_id)
        conversation = conversation_from_row(row)
        self._publish(
            ConversationTransferred(
                conversation_id,
                old or 0,
                interaction.id,
                by_agent_id,
                to_agent_id,
                department_id,
                now,
            )
        )
        await self._adapter(conversation.channel).notify(
            Notice(conversation_id, conversation.address, "transferred")
        )
        return conversation

    async def block(self, conversation_id: int, agent_id: int, reason: str) -> Conversation:
        """The customer may send nothing more on this channel; the conversation closes."""
        now = self._clock()
        async with self._pool.acquire() as conn:
            row = await repository.get_conversation(conn, conversation_id)
            if row is None:
                raise ConversationNotFound(conversation_id)
            await repository.block(
                conn, row["channel"], row["address"], agent_id, reason[:200], now
            )
        self._publish(AddressBlocked(row["channel"], row["address"], agent_id, now))
        await self._adapter(row["channel"]).notify(
            Notice(conversation_id, row["address"], "blocked")
        )
        if row["state"] == "open":
            try:
                return await self.close(conversation_id, "agent", agent_id)
            except ConversationEnded:
                pass
        return conversation_from_row(row)

    # --- reading ------------------------------------------------------------------------------

    async def get(self, conversation_id: int) -> Conversation:
        async with self._pool.acquire() as conn:
            row = await repository.get_conversation(conn, conversation_id)
        if row is None:
            raise ConversationNotFound(conversation_id)
        return conversation_from_row(row)

    async def of_interaction(self, interaction_id: int) -> Conversation | None:
        async with self._pool.acquire() as conn:
            row = await repository.conversation_of_interaction(conn, interaction_id)
        return None if row is None else conversation_from_row(row)

    async def history(
        self, conversation_id: int, after_id: int = 0, limit: int = 500
    ) -> list[Message]:
        async with self._pool.acquire() as conn:
            rows = await repository.messages(conn, [conversation_id], after_id, limit)
        return [message_from_row(r) for r in rows]

    async def latest(self, channel: TextChannel, address: str) -> Conversation | None:
        """The address's open conversation, else its last one."""
        async with self._pool.acquire() as conn:
            row = await repository.latest_conversation(conn, channel, address)
        return None if row is None else conversation_from_row(row)

    async def message(self, message_id: int) -> Message | None:
        async with self._pool.acquire() as conn:
            row = await repository.get_message(conn, message_id)
        return None if row is None else message_from_row(row)

    async def attachment(self, attachment_id: int) -> asyncpg.Record | None:
        async with self._pool.acquire() as conn:
            return await repository.get_attachment(conn, attachment_id)

    async def offline_messages(
        self, department_ids: list[int] | None, limit: int = 200
    ) -> list[asyncpg.Record]:
        """Messages left through the offline form, newest first (of ``department_ids``)."""
        async with self._pool.acquire() as conn:
            return await repository.list_offline(conn, department_ids, limit)

    async def is_blocked(self, channel: TextChannel, address: str) -> bool:
        async with self._pool.acquire() as conn:
            return await repository.is_blocked(conn, channel, address)

    async def agents_available(self, department_id: int) -> bool:
        async with self._pool.acquire() as conn:
            return await repository.available_agents(conn, department_id) > 0

    # --- helpers ------------------------------------------------------------------------------

    def _check(self, text: str, attachment: NewAttachment | None) -> None:
        refusal = check_text(text, self.config, allow_empty=attachment is not None)
        if refusal is None and attachment is not None:
            refusal = check_file(
                attachment.name, attachment.content_type, attachment.data, self.config
            )
        if refusal is not None:
            raise Refused(refusal)

    async def _open_row(
        self, conn: asyncpg.Connection, conversation_id: int, *, lock: bool = False
    ) -> asyncpg.Record:
        row = await repository.get_conversation(conn, conversation_id, lock=lock)
        if row is None:
            raise ConversationNotFound(conversation_id)
        if row["state"] != "open":
            raise ConversationEnded(conversation_id)
        return row

    def _adapter(self, channel: str) -> ChannelAdapter:
        adapter = self._adapters.get(channel)
        if adapter is None:
            raise RuntimeError(f"channel {channel} is not enabled: no adapter registered")
        return adapter
