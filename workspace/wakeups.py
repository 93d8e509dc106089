"""Operators' streams across server processes: after a process stores items for some
users, the others are told (PostgreSQL NOTIFY, through routing's event relay) and their
sockets of those users read the new items from the table. The notification carries
user ids only: it is a wake-up, the table is the truth. After the LISTEN connection was
lost, every socket reads the table, so nothing missed meanwhile stays unsent.

Live-only items (a customer typing) are in no table, so their notification carries the
item itself: small, and lost with the LISTEN connection like any stale indicator."""

from __future__ import annotations

import json
from dataclasses import dataclass

from routing.codec import EventCodec
from routing.relay import EventRelay
from server.bus import EventBus

from .hub import StreamHub
from .stream import Ephemeral

CHANNEL = "switchboard_workspace"


@dataclass(frozen=True, slots=True)
class StreamsAppended:
    """The process ``origin`` stored items for these users."""

    origin: str
    user_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class EphemeralSent:
    """The process ``origin`` sent the user a live-only item; ``payload`` is its JSON
    (the codec carries flat values)."""

    origin: str
    user_id: int
    kind: str
    payload: str


class StreamWakeups:
    def __init__(self, dsn: str, hub: StreamHub, channel: str = CHANNEL) -> None:
        self._hub = hub
        # A bus of its own: these wake-ups are nobody else's business.
        self._bus = EventBus()
        codec = EventCodec([StreamsAppended, EphemeralSent])
        self._relay = EventRelay(dsn, self._bus, codec, channel=channel)
        self._bus.subscribe(StreamsAppended, self._on_appended)
        self._bus.subscribe(EphemeralSent, self._on_ephemeral)
        self._relay.on_reconnect(lambda: hub.poke())

    async def start(self) -> None:
        await self._relay.start()
        self._hub.on_stored = self.announce
        self._hub.on_ephemeral = self.announce_ephemeral

    async def close(self) -> None:
        self._hub.on_stored = None
        self._hub.on_ephemeral = None
        await self._relay.close()
        await self._bus.close()

    def announce(self, user_ids: list[int]) -> None:
        self._relay.publish(StreamsAppended(self._relay.origin, tuple(user_ids)))

    def _on_appended(self, event: StreamsAppended) -> None:
        if event.origin != self._relay.origin:
            self._hub.poke(event.user_ids)

    def announce_ephemeral(self, user_id: int, item: Ephemeral) -> None:
        payload = json.dumps(dict(item.payload), separators=(",", ":"))
        self._relay.publish(EphemeralSent(self._relay.origin, user_id, item.kind, payload))

    def _on_ephemeral(self, event: EphemeralSent) -> None:
        if event.origin != self._relay.origin:
            item = Ephemeral(event.kind, json.loads(event.payload))
            self._hub.send_ephemeral_here(event.user_id, item)
