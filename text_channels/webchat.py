"""The web chat channel: visitors' sockets, and what goes out to them.

A visitor may have the chat open in several tabs: everything goes to each of them, and
to the visitor's sockets other server processes hold (text_channels.relay). Everything a
visitor is sent is also stored, so a widget that reconnects asks for the messages after
the last one it has, and misses nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import WSCloseCode, web

from .adapter import Notice, OutboundMessage
from .models import AttachmentRef, Message, TextChannel
from .relay import WebchatRelay
from .visitors import attachment_signature

log = logging.getLogger("text_channels.webchat")

ATTACHMENT_PATH = "/api/v1/webchat/attachments/"


def attachment_json(
    attachment: AttachmentRef | None, key: bytes, visitor_id: str
) -> dict[str, Any] | None:
    if attachment is None:
        return None
    sig = attachment_signature(key, attachment.id, visitor_id)
    return {
        "id": attachment.id,
        "name": attachment.name,
        "type": attachment.content_type,
        "size": attachment.size,
        "url": f"{ATTACHMENT_PATH}{attachment.id}?v={visitor_id}&sig={sig}",
    }


def visitor_message_json(message: Message, key: bytes, visitor_id: str) -> dict[str, Any]:
    """A message as the visitor's widget shows it (agents by display name only)."""
    return {
        "type": "message",
        "id": message.id,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "text": message.body,
        "author": message.author_name,
        "ref": message.client_ref if message.direction == "in" else None,
        "at": message.at.isoformat(),
        "attachment": attachment_json(message.attachment, key, visitor_id),
    }


class WebchatAdapter:
    channel: TextChannel = "webchat"

    def __init__(self, key: bytes, relay: WebchatRelay | None = None) -> None:
        self._key = key
        self._relay = relay
        self._sockets: dict[str, set[web.WebSocketResponse]] = {}

    def attach(self, visitor_id: str, ws: web.WebSocketResponse) -> None:
        self._sockets.setdefault(visitor_id, set()).add(ws)

    def detach(self, visitor_id: str, ws: web.WebSocketResponse) -> None:
        sockets = self._sockets.get(visitor_id)
        if sockets is not None:
            sockets.discard(ws)
            if not sockets:
                del self._sockets[visitor_id]

    def holds(self, visitor_id: str) -> bool:
        return visitor_id in self._sockets

    async def deliver(self, message: OutboundMessage) -> None:
        await self._deliver_here(message)
        if self._relay is not None:
            self._relay.message_sent(message.address, message.conversation_id, message.message_id)

    async def deliver_stored(self, visitor_id: str, message: Message) -> None:
        """A message another process sent, read from the table."""
        await self._send(visitor_id, visitor_message_json(message, self._key, visitor_id))

    async def _deliver_here(self, message: OutboundMessage) -> None:
        await self._send(
            message.address,
            {
                "type": "message",
                "id": message.message_id,
                "conversation_id": message.conversation_id,
                "direction": "out",
                "text": message.text,
                "author": message.author_name,
                "ref": None,
                "at": message.at.isoformat(),
                "attachment": attachment_json(message.attachment, self._key, message.address),
            },
        )

    async def notify(self, notice: Notice) -> None:
        await self.notify_here(notice)
        if self._relay is not None:
            self._relay.notice_sent(notice)

    async def notify_here(self, notice: Notice) -> None:
        await self._send(
            notice.address,
            {"type": notice.kind, "conversation_id": notice.conversation_id, "on": notice.on},
        )
        if notice.kind == "blocked":
            for ws in list(self._sockets.get(notice.address, ())):
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"blocked")

    async def _send(self, visitor_id: str, payload: Mapping[str, Any]) -> None:
        for ws in list(self._sockets.get(visitor_id, ())):
            # A tab that went away meanwhile: it gets the rest when it reconnects.
            with contextlib.suppress(ConnectionResetError):
                await ws.send_json(payload)

    async def close_all(self) -> None:
        for sockets in list(self._sockets.values()):
            for ws in list(sockets):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
