"""A real Asterisk 22 with three baresip agents, for the pbx integration tests
(built from tests/harness)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from asterisk_conf.instance import AsteriskInstance
from asterisk_conf.render import SipAccount
from server.config import AmiConfig
from tests.harness.asterisk import installation_for_tests, settings_for_tests
from tests.harness.softphone import PhoneEvent, Softphone

AGENTS = ("1001", "1002", "1003")
ACCOUNTS = tuple(SipAccount(a, f"secret-{a}", caller_name=f"Agent {a}") for a in AGENTS)


def ami_config(instance: AsteriskInstance, **overrides: float) -> AmiConfig:
    """Our client's configuration for the instance, with test-sized timers."""
    values: dict[str, object] = {
        "port": instance.settings.ami_port,
        "username": instance.settings.ami_username,
        "secret": instance.settings.ami_secret,
        "ping_interval_s": 1.0,
        "ping_timeout_s": 1.0,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 1.0,
        "connect_timeout_s": 2.0,
        **overrides,
    }
    return AmiConfig.model_validate(values)


class Phones(dict[str, Softphone]):
    """The agents' phones, waiting only for events that came after :meth:`mark`."""

    def __init__(self) -> None:
        super().__init__()
        self._old: set[int] = set()

    def mark(self) -> None:
        self._old = {id(e) for phone in self.values() for e in phone.events}

    async def wait(self, agent: str, kind: str, timeout_s: float = 15.0) -> PhoneEvent:
        old = self._old
        match: Callable[[PhoneEvent], bool] = lambda e: e.type == kind and id(e) not in old  # noqa: E731
        return await self[agent].wait_for(match, timeout_s=timeout_s)


Lab = tuple[AsteriskInstance, Phones]


@contextlib.asynccontextmanager
async def running_lab(workdir: Path) -> AsyncIterator[Lab]:
    install = await asyncio.to_thread(installation_for_tests)
    # A short ring timeout keeps the no-answer test short.
    settings = settings_for_tests(install, workdir / "asterisk", ACCOUNTS, ring_timeout_s=6)
    instance = AsteriskInstance(install, workdir / "asterisk", settings)
    await instance.start()
    phones = Phones()
    try:
        registrar = ("127.0.0.1", instance.settings.sip_port)
        for account in ACCOUNTS:
            phones[account.name] = Softphone(
                workdir / f"phone-{account.name}", account.name, account.secret, registrar
            )
        await asyncio.gather(*(p.start() for p in phones.values()))
        yield instance, phones
    finally:
        await asyncio.gather(*(p.stop() for p in phones.values()), return_exceptions=True)
        await instance.stop()


async def until(condition: Callable[[], bool], timeout_s: float, step_s: float = 0.05) -> None:
    """Poll state that other tasks change until ``condition()``; TimeoutError otherwise."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 (nothing to wait on but the state)
            await asyncio.sleep(step_s)
