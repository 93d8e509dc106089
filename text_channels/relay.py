"""Web chat across server processes: what goes out to a visitor whose socket another
process holds reaches it. The notification names the visitor and the message (a
wake-up, never the text: the table is the truth); the process holding the visitor's
socket reads the message and sends it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from routing.codec import EventCodec
from routing.relay import EventRelay
from server.bus import EventBus

from .adapter import Notice, NoticeKind
from .models import Message

CHANNEL = "switchboard_webchat"


@dataclass(frozen=True, slots=True)
class VisitorOutbound:
    """The process ``origin`` sent a visitor a message (``message_id``) or a notice."""

    origin: str
    visitor_id: str
    conversation_id: int
    kind: str
    message_id: int
    on: bool


Deliver = Callable[[str, Message], Awaitable[None]]
Notify = Callable[[Notice], Awaitable[None]]
Load = Callable[[int], Awaitable[Message | None]]


class WebchatRelay:
    def __init__(self, dsn: str, channel: str = CHANNEL) -> None:
        self._bus = EventBus()
        self._relay = EventRelay(dsn, self._bus, EventCodec([VisitorOutbound]), channel=channel)
        self._handlers: tuple[Deliver, Notify, Load, Callable[[str], bool]] | None = None
        self._bus.subscribe(VisitorOutbound, self._on_outbound)

    def attach(
        self, deliver: Deliver, notify: Notify, load: Load, holds: Callable[[str], bool]
    ) -> None:
        """What to do with other processes' sends for visitors this process holds."""
        self._handlers = (deliver, notify, load, holds)

    async def start(self) -> None:
        await self._relay.start()

    async def close(self) -> None:
        await self._relay.close()
        await self._bus.close()

    def message_sent(self, visitor_id: str, conversation_id: int, message_id: int) -> None:
        self._publish(visitor_id, conversation_id, "message", message_id, True)

    def notice_sent(self, notice: Notice) -> None:
        self._publish(notice.address, notice.conversation_id, notice.kind, 0, notice.on)

    def _publish(
        self, visitor_id: str, conversation_id: int, kind: str, message_id: int, on: bool
    ) -> None:
        self._relay.publish(
            VisitorOutbound(self._relay.origin, visitor_id, conversation_id, kind, message_id, on)
        )

    async def _on_outbound(self, event: VisitorOutbound) -> None:
        if event.origin == self._relay.origin or self._handlers is None:
            return
        deliver, notify, load, holds = self._handlers
        if not holds(event.visitor_id):
            return
        if event.kind == "message":
            message = await load(event.message_id)
            if message is not None:
                await deliver(event.visitor_id, message)
            return
        kind: NoticeKind = event.kind  # type: ignore[assignment]
        await notify(Notice(event.conversation_id, event.visitor_id, kind, event.on))
