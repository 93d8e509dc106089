"""The in-process event bus.

Domain events are frozen dataclasses. Subscribers register for an event type (or a base
class of it) and may be plain functions or coroutines. A failing subscriber is logged
with the event and never stops delivery to the others. Events are delivered in the
order they were published: async subscribers are awaited one after another by a
single dispatcher task, so the events of one call reach each subscriber in order.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

E = TypeVar("E")
Handler = Callable[[Any], Awaitable[None] | None]

log = logging.getLogger(__name__)


class EventBus:
    def __init__(self) -> None:
        self._handlers: list[tuple[type, Handler]] = []
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def subscribe(self, event_type: type[E], handler: Callable[[E], Any]) -> Callable[[], None]:
        """Call ``handler`` for every published event of ``event_type``; returns an unsubscribe."""
        entry = (event_type, handler)
        self._handlers.append(entry)

        def unsubscribe() -> None:
            if entry in self._handlers:
                self._handlers.remove(entry)

        return unsubscribe

    def publish(self, event: object) -> None:
        """Queue an event for delivery; never blocks and never raises."""
        self._idle.clear()
        self._queue.put_nowait(event)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="event-bus")

    async def drain(self) -> None:
        """Wait until every event published so far has been delivered."""
        await self._idle.wait()

    async def close(self) -> None:
        await self.drain()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            await self._deliver(event)
            if self._queue.empty():
                self._idle.set()

    async def _deliver(self, event: object) -> None:
        for event_type, handler in list(self._handlers):
            if not isinstance(event, event_type):
                continue
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("event handler %r failed for %r", handler, event)
