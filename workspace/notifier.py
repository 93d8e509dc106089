"""Domain events → items of operators' streams. The only place the workspace's live
events come from; every handler is synchronous (the bus is never held up).

Routing's events reach every server process (routing.relay), so their items carry a
key naming the fact: stored once per user however many processes push them. Text
channels' events are pushed by the process that stored the fact, only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from routing.events import (
    AgentStatusChanged,
    InteractionCompleted,
    InteractionRequeued,
    OfferAccepted,
    OfferCancelled,
    OfferDeclined,
    OfferMade,
    OfferTimedOut,
    WrapUpStarted,
)
from text_channels.events import (
    ConversationClosed,
    ConversationTransferred,
    CustomerTyping,
    MessageReceived,
    MessageSent,
)
from text_channels.models import Message

from .hub import StreamHub
from .stream import Ephemeral, Outgoing

Subscribe = Callable[[type, Callable[[Any], Any]], Callable[[], None]]


def _t(at: datetime) -> str:
    return at.isoformat()


def message_json(message: Message) -> dict[str, Any]:
    attachment = message.attachment
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "author_id": message.author_id,
        "author": message.author_name,
        "text": message.body,
        "ref": message.client_ref,
        "at": _t(message.at),
        "attachment": None
        if attachment is None
        else {
            "id": attachment.id,
            "name": attachment.name,
            "type": attachment.content_type,
            "size": attachment.size,
        },
    }


class Notifier:
    def __init__(self, hub: StreamHub) -> None:
        self._hub = hub
        # Who holds each interaction, as the events told: where typing goes (not worth a
        # query; a typing indicator that misses is harmless).
        self._holders: dict[int, int] = {}

    def subscribe(self, subscribe: Subscribe) -> list[Callable[[], None]]:
        handlers: list[tuple[type, Callable[[Any], None]]] = [
            (OfferMade, self.on_offer_made),
            (OfferAccepted, self.on_offer_accepted),
            (OfferDeclined, self.on_offer_closed),
            (OfferTimedOut, self.on_offer_closed),
            (OfferCancelled, self.on_offer_closed),
            (WrapUpStarted, self.on_wrapup),
            (InteractionCompleted, self.on_completed),
            (InteractionRequeued, self.on_requeued),
            (AgentStatusChanged, self.on_status),
            (MessageReceived, self.on_message),
            (MessageSent, self.on_message),
            (CustomerTyping, self.on_typing),
            (ConversationClosed, self.on_conversation_closed),
            (ConversationTransferred, self.on_transferred),
        ]
        return [subscribe(event_type, handler) for event_type, handler in handlers]

    def _push(self, user_id: int, kind: str, payload: dict[str, Any], key: str | None) -> None:
        self._hub.push(Outgoing(kind, payload, user_id=user_id, key=key))

    # --- routing ------------------------------------------------------------------------------

    def on_offer_made(self, e: OfferMade) -> None:
        payload = {
            "offer_id": e.offer_id,
            "interaction_id": e.interaction_id,
            "channel": e.channel,
            "customer_id": e.customer_id,
            "department_id": e.department_id,
            "mode": e.mode,
            "expires_at": _t(e.expires_at),
            "at": _t(e.at),
            "refs": dict(e.external_refs),
        }
        self._push(e.agent_id, "offer", payload, f"offer:{e.offer_id}")

    def on_offer_accepted(self, e: OfferAccepted) -> None:
        self._holders[e.interaction_id] = e.agent_id
        payload = {
            "offer_id": e.offer_id,
            "interaction_id": e.interaction_id,
            "channel": e.channel,
            "customer_id": e.customer_id,
            "automatic": e.automatic,
            "at": _t(e.at),
        }
        self._push(e.agent_id, "offer_accepted", payload, f"accepted:{e.offer_id}")

    def on_offer_closed(self, e: OfferDeclined | OfferTimedOut | OfferCancelled) -> None:
        how = {OfferDeclined: "declined", OfferTimedOut: "timed_out", OfferCancelled: "cancelled"}
        payload = {
            "offer_id": e.offer_id,
            "interaction_id": e.interaction_id,
            "how": how[type(e)],
            "reason": getattr(e, "reason", None),
            "at": _t(e.at),
        }
        self._push(e.agent_id, "offer_closed", payload, f"closed:{e.offer_id}")

    def on_wrapup(self, e: WrapUpStarted) -> None:
        payload = {"interaction_id": e.interaction_id, "state": "wrap_up", "until": _t(e.until)}
        self._push(e.agent_id, "interaction", payload, f"wrapup:{e.interaction_id}")

    def on_completed(self, e: InteractionCompleted) -> None:
        self._holders.pop(e.interaction_id, None)
        payload = {"interaction_id": e.interaction_id, "state": "completed", "at": _t(e.at)}
        self._push(e.agent_id, "interaction", payload, f"completed:{e.interaction_id}")

    def on_requeued(self, e: InteractionRequeued) -> None:
        self._holders.pop(e.interaction_id, None)
        if e.agent_id is None:
            return
        payload = {
            "interaction_id": e.interaction_id,
            "state": "requeued",
            "reason": e.reason,
            "at": _t(e.at),
        }
        self._push(e.agent_id, "interaction", payload, f"requeued:{e.interaction_id}:{_t(e.at)}")

    def on_status(self, e: AgentStatusChanged) -> None:
        payload = {"status": e.status, "reason": e.reason, "at": _t(e.at)}
        self._push(e.agent_id, "status", payload, f"status:{_t(e.at)}")

    # --- text channels ------------------------------------------------------------------------

    def on_message(self, e: MessageReceived | MessageSent) -> None:
        if e.interaction_id is None:
            return
        self._hub.push(
            Outgoing("chat_message", message_json(e.message), holder_of=e.interaction_id)
        )

    def on_typing(self, e: CustomerTyping) -> None:
        holder = self._holders.get(e.interaction_id or 0)
        if holder is not None:
            payload = {"conversation_id": e.conversation_id, "on": e.on}
            self._hub.push_ephemeral(holder, Ephemeral("typing", payload))

    def on_conversation_closed(self, e: ConversationClosed) -> None:
        if e.agent_id is None:
            return
        payload = {
            "conversation_id": e.conversation_id,
            "interaction_id": e.interaction_id,
            "by": e.by,
            "at": _t(e.at),
        }
        self._push(e.agent_id, "chat_closed", payload, None)

    def on_transferred(self, e: ConversationTransferred) -> None:
        payload = {
            "conversation_id": e.conversation_id,
            "interaction_id": e.from_interaction_id,
            "to_interaction_id": e.to_interaction_id,
            "at": _t(e.at),
        }
        self._push(e.by_agent_id, "chat_transferred", payload, None)
