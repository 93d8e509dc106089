"""A small AMI session for a benchmark's own side of the calls (not the server's).

A benchmark drives its callers through an AMI connection of its own, beside the
server's. This is that connection, on ``pbx.ami``'s codec and nothing more: no
reconnection, no ping, no dispatcher task (the server's ``AmiClient`` has those, and
subscribes to every event). Use::

    ami = await BenchAmi.connect(asterisk.settings, on_event=handle)
    queued = ami.post({"Action": "Originate", ...})  # written now, answered later
    answer = await ami.send({"Action": "Hangup", "Channel": channel})
    await ami.close()

``events`` is the login's ``Events`` filter; the default, ``agi``, keeps the stream
light on a loaded Asterisk. ``on_event`` is called in the reading task, for each event
in the order Asterisk sent them; it must not block. Responses are matched to actions
by ``ActionID``; an action's response is an :class:`~pbx.ami.AmiMessage`
(``answer.get("Response") == "Success"``). Once Asterisk has closed the connection,
actions still waiting for a response and new ones raise ``ConnectionError``;
:meth:`close` cancels those still waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Mapping

from asterisk_conf.render import AsteriskSettings
from pbx.ami import AmiDecoder, AmiMessage, encode_action

__all__ = ["BenchAmi"]

_READ_SIZE = 65536


class BenchAmi:
    """A logged-in AMI session: :meth:`post` or :meth:`send` actions, events to ``on_event``."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_event: Callable[[AmiMessage], None] | None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_event = on_event
        self._ids = itertools.count(1)
        self._responses: dict[str, asyncio.Future[AmiMessage]] = {}
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @classmethod
    async def connect(
        cls,
        settings: AsteriskSettings,
        *,
        events: str = "agi",
        on_event: Callable[[AmiMessage], None] | None = None,
    ) -> BenchAmi:
        """Connect to the instance's AMI and log in; ``RuntimeError`` if refused."""
        reader, writer = await asyncio.open_connection(settings.bind_address, settings.ami_port)
        ami = cls(reader, writer, on_event)
        ami._task = asyncio.create_task(ami._read_loop())
        answer = await ami.send(
            {
                "Action": "Login",
                "Username": settings.ami_username,
                "Secret": settings.ami_secret,
                "Events": events,
            }
        )
        if answer.get("Response") != "Success":
            await ami.close()
            raise RuntimeError(f"AMI login refused: {answer.get('Message')}")
        return ami

    def post(self, action: Mapping[str, str]) -> asyncio.Future[AmiMessage]:
        """Write the action (``{"Action": name, field: value, …}``) now; its response later."""
        if self._task is not None and self._task.done():
            raise ConnectionError("AMI connection closed")
        fields = dict(action)
        name = fields.pop("Action")
        action_id = f"b{next(self._ids)}"
        future: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        self._responses[action_id] = future
        future.add_done_callback(lambda _: self._responses.pop(action_id, None))
        self._writer.write(encode_action(name, fields, action_id))
        return future

    async def send(self, action: Mapping[str, str], timeout_s: float = 30.0) -> AmiMessage:
        """Write the action and wait for its response."""
        return await asyncio.wait_for(self.post(action), timeout_s)

    async def close(self) -> None:
        self._closing = True
        self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _read_loop(self) -> None:
        decoder = AmiDecoder()
        try:
            while data := await self._reader.read(_READ_SIZE):
                decoder.receive_data(data)
                for message in decoder.events():
                    if isinstance(message, AmiMessage):
                        self._handle(message)
        except ConnectionError:
            pass
        finally:
            for future in list(self._responses.values()):
                if self._closing:
                    future.cancel()
                elif not future.done():
                    future.set_exception(ConnectionError("AMI connection closed"))

    def _handle(self, message: AmiMessage) -> None:
        if message.response is not None:
            future = self._responses.get(message.action_id or "")
            if future is not None and not future.done():
                future.set_result(message)
        elif self._on_event is not None and message.event is not None:
            self._on_event(message)
