"""A real Asterisk for tests: installation, one instance per call, a minimal raw AMI client.

Fixtures (in conftest.py) wire these; for example::

    @pytest.fixture(scope="module")
    async def asterisk(tmp_path_factory):
        instance = await start_test_asterisk(tmp_path_factory.mktemp("asterisk"), accounts)
        yield instance
        await instance.stop()

``RawAmi`` is deliberately tiny (the real client is ``pbx``'s): enough for a test to
log in, send an action, and wait for an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from asterisk_conf.instance import (
    AsteriskInstance,
    allocate_instance_ports,
    allocate_port_block,
    layout_for,
)
from asterisk_conf.provision import (
    DEFAULT_CACHE_DIR,
    Installation,
    find_system_asterisk,
    provision,
)
from asterisk_conf.render import (
    ACCOUNTS_RELOAD_ACTIONS,
    AsteriskSettings,
    SipAccount,
    write_accounts,
)

AmiMessage = dict[str, str]


@functools.cache
def installation_for_tests(cache_dir: Path = DEFAULT_CACHE_DIR) -> Installation:
    """The host's Asterisk if it has one, else the provisioned Debian sid root (built
    on first use, ~30 s; cached afterwards)."""
    return find_system_asterisk() or provision(cache_dir)


def settings_for_tests(
    install: Installation,
    instance_dir: Path,
    accounts: Iterable[SipAccount] = (),
    *,
    agi_port: int | None = None,
    inbound_number: str = "500",
    ring_timeout_s: int = 20,
) -> AsteriskSettings:
    """Settings on fresh free ports, with a random AMI secret.

    ``agi_port`` is where the test's FastAGI server listens; left out, a free port
    where nothing listens (so the dialplan takes its fallback).
    """
    ports = allocate_instance_ports()
    return AsteriskSettings(
        bind_address="127.0.0.1",
        sip_port=ports.sip,
        rtp_start=ports.rtp_start,
        rtp_end=ports.rtp_end,
        http_port=ports.http,
        ami_port=ports.ami,
        ami_username="switchboard",
        ami_secret=secrets.token_urlsafe(16),
        agi_host="127.0.0.1",
        agi_port=agi_port if agi_port is not None else allocate_port_block(1),
        inbound_number=inbound_number,
        layout=layout_for(install, instance_dir),
        accounts=tuple(accounts),
        ring_timeout_s=ring_timeout_s,
    )


async def start_test_asterisk(
    instance_dir: Path,
    accounts: Iterable[SipAccount] = (),
    *,
    agi_port: int | None = None,
    boot_timeout_s: float = 60.0,
) -> AsteriskInstance:
    """A started Asterisk in ``instance_dir``; the caller stops it."""
    install = await asyncio.to_thread(installation_for_tests)
    settings = settings_for_tests(install, instance_dir, accounts, agi_port=agi_port)
    instance = AsteriskInstance(install, instance_dir, settings)
    await instance.start(boot_timeout_s)
    return instance


async def reload_accounts(
    instance: AsteriskInstance, ami: RawAmi, accounts: Iterable[SipAccount]
) -> None:
    """Rewrite the instance's accounts and make them live, as the server does."""
    write_accounts(accounts, instance.etc_dir)
    for action in ACCOUNTS_RELOAD_ACTIONS:
        response = await ami.send(action)
        if response.get("Response") != "Success":
            raise RuntimeError(f"{dict(action)} failed: {response}")


# ---- raw AMI --------------------------------------------------------------------------


def parse_message(block: bytes) -> AmiMessage:
    """One AMI message (``Key: value`` lines) as a dict; a repeated key (``Output``)
    has its values joined by newlines."""
    message: AmiMessage = {}
    for line in block.decode("utf-8", errors="replace").split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            key, value = key.strip(), value.strip()
            message[key] = f"{message[key]}\n{value}" if key in message else value
    return message


def encode_action(action: Mapping[str, str]) -> bytes:
    for key, value in action.items():
        if "\r" in f"{key}{value}" or "\n" in f"{key}{value}":
            raise ValueError(f"line break in AMI action field {key!r}")
    return "".join(f"{k}: {v}\r\n" for k, v in action.items()).encode() + b"\r\n"


class RawAmi:
    """A logged-in AMI session: ``send`` an action, ``wait_event`` for an event."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._responses: dict[str, asyncio.Future[AmiMessage]] = {}
        self._events: list[AmiMessage] = []
        self._consumed: set[int] = set()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.banner = ""

    @classmethod
    async def connect(cls, instance: AsteriskInstance, events: str = "on") -> RawAmi:
        settings = instance.settings
        reader, writer = await asyncio.open_connection(settings.bind_address, settings.ami_port)
        ami = cls(reader, writer)
        ami.banner = (await reader.readline()).decode().strip()
        ami._task = asyncio.create_task(ami._read_loop())
        response = await ami.send(
            {
                "Action": "Login",
                "Username": settings.ami_username,
                "Secret": settings.ami_secret,
                "Events": events,
            }
        )
        if response.get("Response") != "Success":
            await ami.close()
            raise RuntimeError(f"AMI login refused: {response}")
        return ami

    @property
    def events(self) -> tuple[AmiMessage, ...]:
        return tuple(self._events)

    async def send(self, action: Mapping[str, str], timeout_s: float = 10.0) -> AmiMessage:
        """Send an action; its response (matched by ActionID)."""
        action_id = f"t{next(self._ids)}"
        future: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        self._responses[action_id] = future
        self._writer.write(encode_action({**action, "ActionID": action_id}))
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        finally:
            self._responses.pop(action_id, None)

    async def wait_event(
        self, match: str | Callable[[AmiMessage], bool], timeout_s: float = 10.0
    ) -> AmiMessage:
        """The oldest event not returned before that matches (an event name or a predicate)."""
        predicate = (lambda e: e.get("Event") == match) if isinstance(match, str) else match
        async with asyncio.timeout(timeout_s), self._changed:
            while True:
                for index, event in enumerate(self._events):
                    if index not in self._consumed and predicate(event):
                        self._consumed.add(index)
                        return event
                if self._task is None or self._task.done():
                    raise ConnectionError("AMI connection closed")
                await self._changed.wait()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            with contextlib.suppress(ConnectionError, TimeoutError, RuntimeError):
                await self.send({"Action": "Logoff"}, timeout_s=2)
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
        if self._task is not None:
            await self._task

    async def _read_loop(self) -> None:
        try:
            while True:
                block = await self._reader.readuntil(b"\r\n\r\n")
                message = parse_message(block)
                future = self._responses.get(message.get("ActionID", ""))
                if "Response" in message and future is not None and not future.done():
                    future.set_result(message)
                elif "Event" in message:
                    async with self._changed:
                        self._events.append(message)
                        self._changed.notify_all()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for future in self._responses.values():
                if not future.done():
                    future.set_exception(ConnectionError("AMI connection closed"))
            async with self._changed:
                self._changed.notify_all()
