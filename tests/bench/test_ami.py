"""The benchmarks' AMI session (bench/_ami.py) against a real Asterisk 22."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from asterisk_conf.instance import AsteriskInstance
from bench._ami import BenchAmi
from pbx.ami import AmiMessage
from tests.harness.asterisk import start_test_asterisk

pytestmark = pytest.mark.asterisk


@pytest.fixture(scope="module")
async def asterisk(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsteriskInstance]:
    instance = await start_test_asterisk(tmp_path_factory.mktemp("asterisk"))
    yield instance
    await instance.stop()


async def test_a_wrong_secret_is_refused_at_connect(asterisk: AsteriskInstance) -> None:
    wrong = dataclasses.replace(asterisk.settings, ami_secret="not-the-secret")
    with pytest.raises(RuntimeError, match="refused"):
        await BenchAmi.connect(wrong)


async def test_each_response_reaches_its_own_action_with_many_in_flight(
    asterisk: AsteriskInstance,
) -> None:
    ami = await BenchAmi.connect(asterisk.settings)
    try:
        posted = [ami.post({"Action": "Getvar", "Variable": f"LEN({'x' * n})"}) for n in range(60)]
        answers = await asyncio.wait_for(asyncio.gather(*posted), 10)
    finally:
        await ami.close()
    assert [a.get("Value") for a in answers] == [str(n) for n in range(60)]


async def test_events_reach_on_event_in_the_order_asterisk_sent_them(
    asterisk: AsteriskInstance,
) -> None:
    seen: list[AmiMessage] = []
    all_seen = asyncio.Event()

    def on_event(event: AmiMessage) -> None:
        seen.append(event)
        if len(seen) == 200:
            all_seen.set()

    ami = await BenchAmi.connect(asterisk.settings, events="user", on_event=on_event)
    try:
        # Posted back to back, so that many events arrive in one read.
        posted = [
            ami.post({"Action": "UserEvent", "UserEvent": "bench", "Seq": str(n)})
            for n in range(200)
        ]
        await asyncio.wait_for(asyncio.gather(*posted), 10)
        await asyncio.wait_for(all_seen.wait(), 10)
    finally:
        await ami.close()
    assert [e.get("Seq") for e in seen] == [str(n) for n in range(200)]
    assert {e.event for e in seen} == {"UserEvent"}


async def test_an_action_unanswered_when_asterisk_closes_raises_connection_error(
    asterisk: AsteriskInstance,
) -> None:
    ami = await BenchAmi.connect(asterisk.settings)
    try:
        goodbye = await ami.send({"Action": "Logoff"})
        assert goodbye.get("Response") == "Goodbye"
        with pytest.raises(ConnectionError):
            await ami.send({"Action": "Ping"}, timeout_s=10)
    finally:
        await ami.close()
