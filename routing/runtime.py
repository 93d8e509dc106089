"""Everything the routing feature runs in one process, wired together.

The event relay (events to and from the other processes), the services other features
call, and — unless configured off — the router with its sweeps, woken by every event
after which something may have become routable, wherever it happened.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

import asyncpg

from server.bus import EventBus
from server.config import TimersConfig

from .admin import RoutingAdmin
from .assignment import Assigner
from .codec import EventCodec
from .config import RoutingConfig
from .directory import DepartmentDirectory
from .events import ROUTABLE_EVENTS, ROUTING_EVENTS, DepartmentSettingsChanged
from .outbox import EventOutbox
from .overview import QueueOverview
from .relay import EventRelay
from .router import Router
from .services import RoutingService
from .sweeps import Sweeper


class RoutingRuntime:
    def __init__(
        self,
        *,
        dsn: str,
        pool: asyncpg.Pool,
        bus: EventBus,
        config: RoutingConfig,
        timers: TimersConfig,
        clock: Callable[[], datetime],
        event_types: Collection[type] = ROUTING_EVENTS,
        receive: Collection[type] | None = None,
    ) -> None:
        self._bus = bus
        self.relay = EventRelay(
            dsn,
            bus,
            EventCodec(event_types),
            channel=config.notify_channel,
            receive=receive,
            batch_window_s=config.notify_window_s,
        )
        self.outbox = EventOutbox(self.relay.publish)
        self.directory = DepartmentDirectory()
        self.service = RoutingService(self.outbox, self.directory, config, timers, clock)
        self.admin = RoutingAdmin(self.outbox, self.directory, clock)
        self.overview = QueueOverview(self.directory, config, clock)
        self.router: Router | None = None
        if config.router:
            self.router = Router(
                dsn,
                pool,
                Assigner(self.directory, config, timers, clock),
                Sweeper(self.outbox, self.directory, config, timers, clock),
                self.relay.publish,
                sweep_interval_s=timers.offer_sweep_interval_s,
            )
        self._unsubscribe: list[Callable[[], None]] = []

    @property
    def publish(self) -> Callable[[object], None]:
        """Publish an event here and in every other process."""
        return self.relay.publish

    async def start(self) -> None:
        self._unsubscribe.append(
            self._bus.subscribe(DepartmentSettingsChanged, lambda _e: self.directory.invalidate())
        )
        if self.router is not None:
            router = self.router
            self._unsubscribe += [self._bus.subscribe(t, router.wake) for t in ROUTABLE_EVENTS]
            # Whatever another process did may have made something routable; and events
            # may have been missed while the LISTEN connection was down.
            self.relay.on_remote(router.wake_remote, ROUTABLE_EVENTS)
            self.relay.on_reconnect(router.wake)
        await self.relay.start()
        if self.router is not None:
            await self.router.start()

    async def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        if self.router is not None:
            await self.router.close()
        await self.relay.close()
