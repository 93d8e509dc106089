"""One web chat visitor's socket: the widget's protocol.

The widget speaks first: ``hello`` with the token it kept (none the first time) and
the id of the last message it has. The server answers ``welcome`` — the token (new or
the same), whether chatting is possible now, the visitor's conversation and the messages
the widget has not seen. Then each ``message`` or ``file`` is stored before its ``ack``
(or refused with an ``error`` giving a reason); ``typing``, ``close``, ``rate`` and the
offline form's ``offline`` complete it. What agents send arrives as ``message``,
``typing``, ``closed``, ``transferred`` and ``blocked``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import WSMsgType, web

from .adapter import InboundMessage, NewAttachment
from .limits import RateLimiter, Refusal
from .services import ConversationEnded, ConversationNotFound, ConversationService, NotOpen, Refused
from .sites import Site
from .visitors import new_visitor, verify
from .webchat import WebchatAdapter, visitor_message_json

log = logging.getLogger("text_channels.webchat")

HELLO_TIMEOUT_S = 10.0
_REF_MAX = 64


class VisitorSocket:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        site: Site,
        service: ConversationService,
        adapter: WebchatAdapter,
        key: bytes,
        limiter: RateLimiter,
        clock: Callable[[], datetime],
    ) -> None:
        self._ws = ws
        self._site = site
        self._service = service
        self._adapter = adapter
        self._key = key
        self._limiter = limiter
        self._clock = clock
        self._visitor = ""

    async def run(self) -> None:
        try:
            async with asyncio.timeout(HELLO_TIMEOUT_S):
                hello = await self._ws.receive()
        except TimeoutError:
            return
        first = _json(hello.data) if hello.type == WSMsgType.TEXT else None
        if first is None or first.get("type") != "hello":
            await self._error(None, Refusal("protocol", "the first message must be hello"))
            return
        token = first.get("token")
        visitor = verify(self._key, token) if isinstance(token, str) else None
        if visitor is None:
            visitor, token = new_visitor(self._key)
        self._visitor = visitor
        if await self._service.is_blocked("webchat", visitor):
            await self._ws.send_json({"type": "blocked"})
            return
        self._adapter.attach(visitor, self._ws)
        try:
            await self._welcome(str(token), first.get("after"))
            async for message in self._ws:
                if message.type != WSMsgType.TEXT:
                    continue
                data = _json(message.data)
                if data is None:
                    await self._error(None, Refusal("protocol", "messages are JSON objects"))
                    continue
                await self._handle(data)
        finally:
            self._adapter.detach(visitor, self._ws)

    async def _welcome(self, token: str, after: object) -> None:
        after_id = after if isinstance(after, int) and after >= 0 else 0
        conversation = await self._service.latest("webchat", self._visitor)
        messages: list[dict[str, Any]] = []
        if conversation is not None:
            history = await self._service.history(conversation.id, after_id)
            messages = [
                visitor_message_json(m, self._key, self._visitor)
                for m in history
                if m.direction != "system"
            ]
        available, reason = await self._availability()
        await self._ws.send_json(
            {
                "type": "welcome",
                "token": token,
                "available": available,
                "reason": reason,
                "conversation": None
                if conversation is None
                else {
                    "id": conversation.id,
                    "state": conversation.state,
                    "rated": conversation.csat is not None,
                },
                "messages": messages,
            }
        )

    async def _availability(self) -> tuple[bool, str | None]:
        if not self._site.is_open(self._clock()):
            return False, "after_hours"
        if not await self._service.agents_available(self._site.department_id):
            return False, "nobody_available"
        return True, None

    async def _handle(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        ref = data.get("ref") if isinstance(data.get("ref"), str) else None
        if ref is not None and len(ref) > _REF_MAX:
            await self._error(None, Refusal("protocol", f"ref is at most {_REF_MAX} characters"))
            return
        try:
            if kind == "message":
                await self._message(ref, _text(data.get("text")), None)
            elif kind == "file":
                await self._message(ref, _text(data.get("text")), self._file(data))
            elif kind == "typing":
                await self._service.customer_typing("webchat", self._visitor, bool(data.get("on")))
            elif kind == "close":
                await self._close()
            elif kind == "rate":
                await self._rate(data)
            elif kind == "offline":
                await self._offline(ref, data)
            elif kind == "ping":
                await self._ws.send_json({"type": "pong"})
            else:
                await self._error(ref, Refusal("protocol", f"unknown message type {kind!r}"))
        except Refused as exc:
            await self._error(ref, exc.refusal)

    def _file(self, data: dict[str, Any]) -> NewAttachment:
        encoded = data.get("data")
        if not isinstance(encoded, str):
            raise Refused(Refusal("protocol", "a file needs its data in base64"))
        # Refused before decoding: base64 is 4 characters per 3 bytes.
        if len(encoded) * 3 // 4 > self._service.config.max_file_bytes + 3:
            raise Refused(
                Refusal(
                    "file_too_large",
                    f"a file may have at most {self._service.config.max_file_bytes} bytes",
                )
            )
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(Refusal("protocol", "the file's data is not base64")) from None
        return NewAttachment(_text(data.get("name")), _text(data.get("content_type")), content)

    async def _message(self, ref: str | None, text: str, attachment: NewAttachment | None) -> None:
        retry_after = self._limiter.take(self._visitor, time.monotonic())
        if retry_after is not None:
            await self._error(
                ref,
                Refusal("rate_limited", "too many messages; wait a moment"),
                retry_after_s=round(retry_after, 1),
            )
            return
        inbound = InboundMessage(
            channel="webchat",
            address=self._visitor,
            text=text,
            client_ref=ref,
            attachment=attachment,
            source=self._site.key,
        )
        department = self._site.department_id
        try:
            receipt = await self._service.receive(inbound, department, may_open=False)
        except NotOpen:
            available, reason = await self._availability()
            if not available:
                await self._error(
                    ref, Refusal(reason or "unavailable", "nobody can chat now"), offline=True
                )
                return
            receipt = await self._service.receive(inbound, department)
        await self._ws.send_json(
            {
                "type": "ack",
                "ref": ref,
                "id": receipt.message.id,
                "conversation_id": receipt.conversation_id,
                "at": receipt.message.at.isoformat(),
                "attachment": visitor_message_json(receipt.message, self._key, self._visitor)[
                    "attachment"
                ],
            }
        )

    async def _close(self) -> None:
        conversation = await self._service.latest("webchat", self._visitor)
        if conversation is None or conversation.state != "open":
            return
        try:
            await self._service.close(conversation.id, "customer")
        except ConversationEnded:
            return

    async def _rate(self, data: dict[str, Any]) -> None:
        conversation_id, score = data.get("conversation_id"), data.get("score")
        if not isinstance(conversation_id, int) or not isinstance(score, int):
            raise Refused(Refusal("protocol", "rate needs conversation_id and score"))
        try:
            await self._service.rate(
                "webchat", self._visitor, conversation_id, score, _text(data.get("comment"))
            )
        except ConversationNotFound:
            raise Refused(Refusal("rating", "no such conversation of yours")) from None
        await self._ws.send_json({"type": "rated", "conversation_id": conversation_id})

    async def _offline(self, ref: str | None, data: dict[str, Any]) -> None:
        _available, reason = await self._availability()
        inbound = InboundMessage(
            channel="webchat",
            address=self._visitor,
            text=_text(data.get("text")),
            client_ref=ref,
            source=self._site.key,
        )
        await self._service.leave_offline(
            inbound,
            self._site.department_id,
            name=_text(data.get("name")),
            contact=_text(data.get("contact")),
            reason=reason or "nobody_available",
        )
        await self._ws.send_json({"type": "offline_saved", "ref": ref})

    async def _error(self, ref: str | None, refusal: Refusal, **extra: Any) -> None:
        await self._ws.send_json(
            {
                "type": "error",
                "ref": ref,
                "reason": refusal.reason,
                "message": refusal.message,
                **extra,
            }
        )


def _json(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
