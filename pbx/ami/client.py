"""A long-lived AMI connection: login, reconnect, half-open detection, actions, events.

One background task owns the connection. It connects, logs in, reads, and when the
connection ends for any reason (Asterisk closed it, a ping went unanswered, the login
failed) it waits with exponential back-off and starts again. Callers never see the
socket: they send actions (matched to responses by ActionID) and subscribe to events.

Events are handed to subscribers by one dispatcher task, strictly in the order they
were read, so the events of a call are always handled in order. A connection change is
queued in the same stream, so a subscriber sees "connected" after every event of the
previous connection and before every event of the new one (the tracker's resync relies
on that). The reader never runs handlers itself: a handler that awaits an action
cannot block the responses it waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from server.config import AmiConfig

from .codec import AmiDecoder, AmiMessage, Banner, encode_action

__all__ = [
    "AmiAuthError",
    "AmiClient",
    "AmiError",
    "AmiNotConnected",
    "AmiResponse",
    "EventHandler",
]

EventHandler = Callable[[AmiMessage], Awaitable[None] | None]
ConnectionCallback = Callable[[bool], Awaitable[None] | None]

_READ_SIZE = 65536


class AmiError(Exception):
    """Asterisk answered an action with ``Response: Error`` (or an originate failed)."""

    def __init__(self, action: str, message: AmiMessage) -> None:
        reason = message.get("Message") or message.get("Reason") or "no reason given"
        super().__init__(f"AMI action {action} failed: {reason}")
        self.action = action
        self.message = message


class AmiAuthError(AmiError):
    """The login was refused: the username or secret is wrong (retrying will not help soon)."""


class AmiNotConnected(ConnectionError):
    """There is no logged-in AMI connection right now, or it was lost mid-action."""


@dataclass(frozen=True)
class AmiResponse:
    """The answer to one action.

    ``message`` is the ``Response:`` message. For an event-list action (``EventList:
    start``) ``events`` holds the listed events and ``complete`` the final
    ``…Complete`` event. For an asynchronous originate ``events`` holds the
    ``OriginateResponse`` event.
    """

    message: AmiMessage
    events: tuple[AmiMessage, ...] = ()
    complete: AmiMessage | None = None

    @property
    def output(self) -> list[str]:
        """The text lines of a ``Command`` action."""
        return self.message.output

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.message.get(key, default)


@dataclass(eq=False)
class _Pending:
    action: str
    future: asyncio.Future[AmiResponse]
    # Originate with Async: the response only says "queued"; the result is an event.
    wait_event: str | None = None
    # Run by the reader the moment the success response is read, before the messages
    # after it: the login uses it so "connected" precedes the first event.
    on_success: Callable[[], None] | None = None
    response: AmiMessage | None = None
    events: list[AmiMessage] = field(default_factory=list)


class _PingTimeout(Exception):
    pass


class AmiClient:
    """A self-healing AMI client. See the module docstring for the guarantees."""

    def __init__(self, config: AmiConfig, *, logger: logging.Logger | None = None) -> None:
        self._config = config
        self._log = logger or logging.getLogger("pbx.ami")
        self._handlers: list[EventHandler] = []
        self._conn_callbacks: list[ConnectionCallback] = []
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        # A per-client prefix keeps ActionIDs readable in Asterisk's logs and unique
        # across our own reconnects.
        self._id_prefix = secrets.token_hex(3)
        self._writer: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self._dispatch_queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self._run_task: asyncio.Task[None] | None = None
        self._dispatch_task: asyncio.Task[None] | None = None
        self.version: str | None = None
        self.last_error: str | None = None

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in the background; returns at once."""
        if self._run_task is not None:
            return
        self._dispatch_task = asyncio.create_task(self._dispatch_loop(), name="ami-dispatch")
        self._run_task = asyncio.create_task(self._run(), name="ami-connection")

    async def close(self) -> None:
        """Disconnect and stop every background task."""
        for task in (self._run_task, self._dispatch_task):
            if task is not None:
                task.cancel()
        for task in (self._run_task, self._dispatch_task):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._run_task = self._dispatch_task = None
        self._drop_connection("client closed")

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109 (API)
        """Wait until logged in; raises TimeoutError after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    # -- subscriptions -----------------------------------------------------------

    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        """Call ``handler`` (sync or async) for every event; returns an unsubscribe."""
        self._handlers.append(handler)
        return lambda: self._handlers.remove(handler) if handler in self._handlers else None

    def on_connection_change(self, callback: ConnectionCallback) -> Callable[[], None]:
        """Call ``callback(connected)`` (sync or async) on every login and every loss."""
        self._conn_callbacks.append(callback)
        return lambda: (
            self._conn_callbacks.remove(callback) if callback in self._conn_callbacks else None
        )

    # -- actions -----------------------------------------------------------------

    async def send_action(
        self,
        name: str,
        fields: Mapping[str, str | Sequence[str]] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (falls back to the configured one)
    ) -> AmiResponse:
        """Send one action and wait for its whole answer (event lists included).

        Raises :class:`AmiNotConnected` when down or when the connection is lost before
        the answer, :class:`AmiError` on ``Response: Error``, TimeoutError after
        ``timeout`` (default: the configured action timeout).
        """
        if not self.connected:
            raise AmiNotConnected(f"AMI is not connected (last error: {self.last_error})")
        return await self._request(name, fields, timeout=timeout)

    async def originate(
        self,
        fields: Mapping[str, str | Sequence[str]],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (falls back to the configured one)
    ) -> AmiMessage:
        """Originate asynchronously and wait for its ``OriginateResponse`` event.

        Returns the event when ``Response: Success``; raises :class:`AmiError` with the
        event when the originate failed (busy, no answer, congestion: see ``Reason``).
        ``timeout`` should cover the ring time of the originate (``Timeout`` field, ms).
        """
        if not self.connected:
            raise AmiNotConnected(f"AMI is not connected (last error: {self.last_error})")
        answer = await self._request(
            "Originate",
            {**fields, "Async": "true"},
            timeout=timeout,
            wait_event="OriginateResponse",
        )
        (event,) = answer.events
        if event.get("Response") != "Success":
            raise AmiError("Originate", event)
        return event

    async def _request(
        self,
        name: str,
        fields: Mapping[str, str | Sequence[str]] | None = None,
        *,
        timeout: float | None,  # noqa: ASYNC109
        wait_event: str | None = None,
        on_success: Callable[[], None] | None = None,
    ) -> AmiResponse:
        writer = self._writer
        if writer is None:
            raise AmiNotConnected("AMI is not connected")
        action_id = f"{self._id_prefix}-{next(self._ids)}"
        data = encode_action(name, fields, action_id)
        future = asyncio.get_running_loop().create_future()
        pending = _Pending(name, future, wait_event, on_success)
        self._pending[action_id] = pending
        try:
            async with asyncio.timeout(timeout or self._config.action_timeout_s):
                writer.write(data)
                await writer.drain()
                return await pending.future
        finally:
            self._pending.pop(action_id, None)

    # -- connection loop -----------------------------------------------------------

    async def _run(self) -> None:
        cfg = self._config
        delay = cfg.reconnect_min_s
        while True:
            logged_in = False
            try:
                logged_in = await self._session()
            except asyncio.CancelledError:
                raise
            except AmiAuthError as exc:
                self._note_error(f"login refused: {exc}", level=logging.ERROR)
            except _PingTimeout:
                self._note_error(
                    f"no answer to Ping within {cfg.ping_timeout_s}s: connection declared down"
                )
            except TimeoutError:
                self._note_error(
                    f"no answer within {cfg.connect_timeout_s}s while connecting or logging in"
                )
            except (OSError, EOFError) as exc:
                self._note_error(f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc))
            except Exception as exc:  # a bug must not end reconnection for good
                self._log.exception("ami connection failed unexpectedly")
                self.last_error = repr(exc)
            finally:
                self._drop_connection(self.last_error or "connection ended")
            if logged_in:
                delay = cfg.reconnect_min_s
            self._log.info("ami reconnect in %.1fs host=%s port=%s", delay, cfg.host, cfg.port)
            await asyncio.sleep(delay)
            delay = min(delay * 2, cfg.reconnect_max_s)

    def _note_error(self, text: str, level: int = logging.WARNING) -> None:
        self.last_error = text
        self._log.log(level, "ami connection down: %s", text)

    async def _session(self) -> bool:
        """One connection from connect to loss. Returns whether the login succeeded."""
        cfg = self._config
        async with asyncio.timeout(cfg.connect_timeout_s):
            reader, writer = await asyncio.open_connection(cfg.host, cfg.port)
        self._writer = writer
        decoder = AmiDecoder()
        reader_task = asyncio.create_task(self._read_loop(reader, decoder), name="ami-reader")
        ping_task: asyncio.Task[None] | None = None
        try:
            login = asyncio.create_task(
                self._request(
                    "Login",
                    {
                        "Username": cfg.username,
                        "Secret": cfg.secret.get_secret_value(),
                        "Events": "on",
                    },
                    timeout=cfg.connect_timeout_s,
                    on_success=lambda: self._set_connected(True),
                )
            )
            await asyncio.wait({login, reader_task}, return_when=asyncio.FIRST_COMPLETED)
            if not login.done():
                login.cancel()
                reader_task.result()  # raises why the connection ended
                raise EOFError("connection closed during login")
            try:
                login.result()
            except AmiError as exc:
                # Asterisk also refuses logins while it shuts down; only a refused
                # secret is an authentication failure.
                if "Authentication" in (exc.message.get("Message") or ""):
                    raise AmiAuthError("Login", exc.message) from None
                raise ConnectionRefusedError(str(exc)) from None
            ping_task = asyncio.create_task(self._ping_loop(), name="ami-ping")
            await asyncio.wait({reader_task, ping_task}, return_when=asyncio.FIRST_COMPLETED)
            for task in (reader_task, ping_task):
                if task.done():
                    task.result()
            return True
        finally:
            for task in (reader_task, ping_task):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            # abort, not close: a frozen peer would never take the unsent bytes.
            writer.transport.abort()
            self._writer = None

    async def _ping_loop(self) -> None:
        cfg = self._config
        while True:
            await asyncio.sleep(cfg.ping_interval_s)
            try:
                await self._request("Ping", timeout=cfg.ping_timeout_s)
            except TimeoutError:
                raise _PingTimeout from None
            except AmiError as exc:
                # "Asterisk is shutting down": the connection is about to go.
                raise ConnectionAbortedError(str(exc)) from None

    async def _read_loop(self, reader: asyncio.StreamReader, decoder: AmiDecoder) -> None:
        while True:
            data = await reader.read(_READ_SIZE)
            if not data:
                raise EOFError("connection closed by Asterisk")
            decoder.receive_data(data)
            for item in decoder.events():
                if isinstance(item, AmiMessage):
                    self._handle(item)
                else:
                    self._banner(item)

    def _banner(self, banner: Banner) -> None:
        self.version = banner.version
        self._log.info("ami banner version=%s", banner.version)

    def _handle(self, msg: AmiMessage) -> None:
        action_id = msg.action_id
        pending = self._pending.get(action_id) if action_id is not None else None
        if pending is None or pending.future.done():
            if msg.event is not None:
                self._dispatch_queue.put_nowait(("event", msg))
            return
        response = msg.response
        if response is not None and pending.response is None:
            if response == "Error":
                pending.future.set_exception(AmiError(pending.action, msg))
            elif msg.get("EventList") == "start" or pending.wait_event is not None:
                pending.response = msg
            else:
                pending.future.set_result(AmiResponse(msg))
                if pending.on_success is not None:
                    pending.on_success()
            return
        if pending.response is None:
            # An event carrying our ActionID before the response; not ours to collect.
            self._dispatch_queue.put_nowait(("event", msg))
            return
        if pending.wait_event is not None:
            if msg.event == pending.wait_event:
                pending.future.set_result(AmiResponse(pending.response, (msg,)))
            # Subscribers see OriginateResponse too: it is a real event of the system.
            self._dispatch_queue.put_nowait(("event", msg))
        elif msg.get("EventList") == "Complete":
            pending.future.set_result(AmiResponse(pending.response, tuple(pending.events), msg))
        else:
            pending.events.append(msg)

    def _set_connected(self, up: bool) -> None:
        if up == self._connected.is_set():
            return
        if up:
            self.last_error = None
            self._connected.set()
            self._log.info("ami connected host=%s port=%s", self._config.host, self._config.port)
        else:
            self._connected.clear()
        self._dispatch_queue.put_nowait(("connection", up))

    def _drop_connection(self, reason: str) -> None:
        self._set_connected(False)
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if not p.future.done():
                p.future.set_exception(AmiNotConnected(f"AMI connection lost: {reason}"))

    # -- dispatch ---------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        queue = self._dispatch_queue
        while True:
            kind, item = await queue.get()
            if kind == "event":
                assert isinstance(item, AmiMessage)
                for handler in tuple(self._handlers):
                    await self._call(handler, item, item)
            else:
                for callback in tuple(self._conn_callbacks):
                    await self._call(callback, item, None)

    async def _call(self, fn: Callable[..., object], arg: object, event: AmiMessage | None) -> None:
        try:
            result = fn(arg)
            if inspect.isawaitable(result):
                await result
        except Exception:
            if event is None:
                self._log.exception("ami connection callback %r failed (connected=%s)", fn, arg)
            else:
                self._log.exception(
                    "ami event handler %r failed event=%s linkedid=%s uniqueid=%s fields=%r",
                    fn,
                    event.get("Event"),
                    event.get("Linkedid"),
                    event.get("Uniqueid"),
                    dict(event),
                )
