"""The operator page's WebSocket: the user's stream, caught up after a reconnect.

The page connects to ``/api/v1/ws`` (``?since=N`` after a reconnect, N being the last
sequence number it saw). The server answers ``hello`` with the stream's head and its
clock, replays every item after N, then sends items as they are stored — in order and
each once. Items carry ``seq``; ephemeral ones (typing) carry none. When the items after
N are gone (pruned, or N is from another database), ``hello`` says ``reset``: the page
loads its state afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import Callable
from datetime import datetime

from aiohttp import WSCloseCode, WSMsgType, web

from .hub import Poke, StreamHub, Subscriber
from .stream import StreamItem

log = logging.getLogger("workspace.sockets")

HEARTBEAT_S = 20.0


def same_origin(request: web.Request, public_url: str = "") -> bool:
    """A browser's socket must come from our own pages: the session cookie alone would
    let any site a logged-in operator visits open one (cross-site WebSocket hijacking)."""
    origin = request.headers.get("Origin")
    if origin is None:
        # Not a browser (a script with the cookie or a token): nothing to hijack.
        return True
    allowed = {f"{request.scheme}://{request.host}"}
    if public_url:
        allowed.add(public_url.rstrip("/"))
    return origin in allowed


def parse_since(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 18:
        raise ValueError("since must be a sequence number")
    return int(value)


class OperatorSockets:
    """The open operator sockets of this process, closed with GOING_AWAY on shutdown."""

    def __init__(self, hub: StreamHub, clock: Callable[[], datetime]) -> None:
        self._hub = hub
        self._clock = clock
        self._sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    async def serve(
        self, request: web.Request, user_id: int, since: int | None
    ) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=4096)
        await ws.prepare(request)
        self._sockets.add(ws)
        subscriber = self._hub.subscribe(user_id)
        sender: asyncio.Task[None] | None = None
        try:
            # Subscribed before the head is read: nothing stored after it can slip by.
            head = await self._hub.head(user_id)
            replay = since is not None and await self._hub.can_replay(user_id, since, head)
            hello = {
                "type": "hello",
                "seq": head,
                "server_time": self._clock().isoformat(),
                "reset": not replay,
            }
            await ws.send_str(json.dumps(hello))
            subscriber.last_seq = since if replay and since is not None else head
            sender = asyncio.create_task(self._send(ws, subscriber, head), name="workspace-send")
            async for message in ws:
                if message.type == WSMsgType.TEXT and message.data == "ping":
                    await ws.send_str('{"type":"pong"}')
        finally:
            if sender is not None:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
            self._hub.unsubscribe(subscriber)
            self._sockets.discard(ws)
        return ws

    async def _send(self, ws: web.WebSocketResponse, subscriber: Subscriber, head: int) -> None:
        try:
            if subscriber.last_seq < head:
                for item in await self._hub.stored(subscriber.user_id, subscriber.last_seq):
                    await self._send_item(ws, subscriber, item)
            while True:
                item = await subscriber.queue.get()
                if item is None:
                    await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow")
                    return
                if isinstance(item, Poke):
                    for stored in await self._hub.stored(subscriber.user_id, subscriber.last_seq):
                        await self._send_item(ws, subscriber, stored)
                    continue
                if not isinstance(item, StreamItem):
                    await ws.send_str(item.wire())
                    continue
                if item.seq <= subscriber.last_seq:
                    continue
                if item.seq > subscriber.last_seq + 1:
                    # Stored by another process, or before this socket subscribed.
                    gap = await self._hub.stored(subscriber.user_id, subscriber.last_seq, item.seq)
                    for missed in gap:
                        await self._send_item(ws, subscriber, missed)
                await self._send_item(ws, subscriber, item)
        except ConnectionResetError:
            return

    @staticmethod
    async def _send_item(
        ws: web.WebSocketResponse, subscriber: Subscriber, item: StreamItem
    ) -> None:
        await ws.send_str(item.wire())
        subscriber.last_seq = item.seq

    async def close_all(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
