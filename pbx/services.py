"""The live link: AMI events → call tracker → domain events on the bus, with resync."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from .ami.client import AmiClient, AmiNotConnected
from .ami.codec import AmiMessage
from .events import CallEvent
from .tracker import CallTracker

__all__ = ["CallTrackingService"]

log = logging.getLogger("pbx.tracking")


class CallTrackingService:
    """Feeds every AMI event to a :class:`CallTracker` and publishes what it concludes.

    After every (re)connect it asks Asterisk for the live channels and reconciles, so
    calls that ended while we were away are closed and calls that started are picked
    up. The AMI client delivers the "connected" notice before any event of the new
    connection, so the snapshot and the live stream are applied in a consistent order.
    """

    def __init__(
        self,
        ami: AmiClient,
        publish: Callable[[CallEvent], object],
        *,
        clock: Callable[[], datetime],
        tracker: CallTracker | None = None,
    ) -> None:
        self._ami = ami
        self._publish = publish
        self._clock = clock
        self.tracker = tracker or CallTracker(clock=clock)
        self._unsubscribe: list[Callable[[], None]] = []
        # When the Asterisk we talk to started: a change means it restarted.
        self._started: str | None = None

    async def start(self) -> None:
        self._unsubscribe = [
            self._ami.subscribe(self._on_event),
            self._ami.on_connection_change(self._on_connection),
        ]
        if self._ami.connected:
            # Connected before we subscribed: the notice may be gone already.
            await self.resync()

    async def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    def _on_event(self, msg: AmiMessage) -> None:
        for event in self.tracker.feed(msg):
            self._publish(event)

    async def _on_connection(self, connected: bool) -> None:
        if connected:
            await self.resync()

    async def resync(self) -> None:
        try:
            status = await self._ami.send_action("CoreStatus")
            answer = await self._ami.send_action("CoreShowChannels")
        except (AmiNotConnected, TimeoutError) as exc:
            # The next login triggers another resync; nothing is lost by waiting.
            log.warning("call resync skipped: %s", exc)
            return
        started = f"{status.get('CoreStartupDate')} {status.get('CoreStartupTime')}"
        restarted = self._started is not None and started != self._started
        self._started = started
        events = self.tracker.resync(answer.events, self._clock(), asterisk_restarted=restarted)
        log.info(
            "call resync channels=%d calls_in_progress=%d events=%d asterisk_restarted=%s",
            len(answer.events),
            len(self.tracker.calls),
            len(events),
            restarted,
        )
        for event in events:
            self._publish(event)
