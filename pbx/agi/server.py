"""An asyncio FastAGI server: one task per call, scripts routed by path.

``AGI(agi://host:port/ivr?menu=main)`` in the dialplan opens a connection; the server
reads the environment, finds the handler registered for ``ivr`` and runs it with an
:class:`AgiSession`. Whatever a connection does — garbage instead of an environment,
silence, a hang-up in the middle of a command, a handler that raises — is contained to
that connection: it is logged and closed, and the server keeps serving the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from .codec import (
    AgiDecoder,
    AgiHangupNotice,
    AgiProtocolError,
    AgiRequest,
    AgiResult,
    encode_command,
)

__all__ = ["AgiCommandError", "AgiHandler", "AgiHangup", "AgiServer", "AgiSession"]

_READ_SIZE = 65536


class AgiHangup(Exception):
    """The channel hung up (or the connection closed); no command can run any more."""


class AgiCommandError(Exception):
    """Asterisk refused a command (5xx other than a dead channel)."""

    def __init__(self, command: str, result: AgiResult) -> None:
        super().__init__(f"AGI command {command.split(' ', 1)[0]!r} failed: {result.lines}")
        self.command = command
        self.result = result


class AgiSession:
    """One running AGI script: the channel's environment and a way to send commands."""

    def __init__(
        self,
        request: AgiRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        decoder: AgiDecoder,
        command_timeout: float,
    ) -> None:
        self.request = request
        self.env = request.env
        self.hung_up = False
        self._reader = reader
        self._writer = writer
        self._decoder = decoder
        self._timeout = command_timeout
        self._lock = asyncio.Lock()

    @property
    def script(self) -> str:
        return self.request.script

    @property
    def args(self) -> list[str]:
        return self.request.args

    @property
    def query(self) -> dict[str, str]:
        return self.request.query

    async def command(self, command: str, *, timeout: float | None = None) -> AgiResult:  # noqa: ASYNC109
        """Send one command and return its result.

        Raises :class:`AgiHangup` once the channel is gone and :class:`AgiCommandError`
        when Asterisk refuses the command. ``timeout`` (default: the server's) should
        cover commands that wait for the caller, like ``GET DATA``.
        """
        data = encode_command(command)
        async with self._lock:  # one command at a time: answers carry no id
            if self.hung_up:
                raise AgiHangup(f"channel {self.request.channel} hung up")
            self._writer.write(data)
            try:
                async with asyncio.timeout(timeout or self._timeout):
                    await self._writer.drain()
                    result = await self._next_result()
            except (ConnectionError, OSError) as exc:
                self.hung_up = True
                raise AgiHangup(f"connection lost: {exc}") from None
        if result.code == 511:
            self.hung_up = True
            raise AgiHangup(f"channel {self.request.channel} hung up")
        if result.code != 200:
            raise AgiCommandError(command, result)
        return result

    async def _next_result(self) -> AgiResult:
        while True:
            event = self._decoder.next_event()
            if isinstance(event, AgiResult):
                return event
            if isinstance(event, AgiHangupNotice):
                # The answer to the running command still follows; later commands fail.
                self.hung_up = True
                continue
            data = await self._reader.read(_READ_SIZE)
            if not data:
                self.hung_up = True
                raise AgiHangup(f"connection closed during a command ({self.request.channel})")
            self._decoder.receive_data(data)


AgiHandler = Callable[[AgiSession], Awaitable[None]]


class AgiServer:
    """FastAGI listener. ``route("ivr", handler)`` serves ``agi://host:port/ivr``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4573,
        *,
        header_timeout: float = 10.0,
        command_timeout: float = 60.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._header_timeout = header_timeout
        self._command_timeout = command_timeout
        self._log = logger or logging.getLogger("pbx.agi")
        self._routes: dict[str, AgiHandler] = {}
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    def route(self, path: str, handler: AgiHandler) -> None:
        """Serve ``agi://…/path`` with ``handler`` (replacing an earlier one)."""
        self._routes[path.strip("/")] = handler

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return self._server.sockets[0].getsockname()[1]

    @property
    def serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self._host, self._port)
        self._log.info("agi listening host=%s port=%s", self._host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._sessions):
            task.cancel()
        for task in list(self._sessions):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer), name="agi-session")
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        decoder = AgiDecoder()
        request: AgiRequest | None = None
        try:
            request = await self._read_request(reader, decoder)
            handler = self._routes.get(request.script)
            if handler is None:
                self._log.warning(
                    "agi no such script script=%r channel=%s", request.script, request.channel
                )
                return
            session = AgiSession(request, reader, writer, decoder, self._command_timeout)
            await handler(session)
        except AgiHangup as exc:
            self._log.info("agi session ended by hangup channel=%s: %s", _channel(request), exc)
        except AgiProtocolError as exc:
            self._log.warning("agi bad request peer=%s: %s", peer, exc)
        except TimeoutError:
            self._log.warning("agi timeout peer=%s channel=%s", peer, _channel(request))
        except (ConnectionError, EOFError) as exc:
            self._log.info(
                "agi connection lost peer=%s channel=%s: %r", peer, _channel(request), exc
            )
        except Exception:
            self._log.exception(
                "agi handler failed script=%s channel=%s",
                request.script if request else None,
                _channel(request),
            )
        finally:
            writer.transport.abort()

    async def _read_request(self, reader: asyncio.StreamReader, decoder: AgiDecoder) -> AgiRequest:
        async with asyncio.timeout(self._header_timeout):
            while True:
                event = decoder.next_event()
                if isinstance(event, AgiRequest):
                    return event
                if event is not None:
                    raise AgiProtocolError("a result before the AGI environment")
                data = await reader.read(_READ_SIZE)
                if not data:
                    raise EOFError("connection closed before the AGI environment")
                decoder.receive_data(data)


def _channel(request: AgiRequest | None) -> str | None:
    return request.channel if request is not None else None
