"""The AMI link and the FastAGI server against a real Asterisk 22: actions, event lists,
errors, a frozen Asterisk (SIGSTOP), a restart in the middle of a call, and AGI
scripts that the caller hangs up on."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from asterisk_conf.instance import AsteriskInstance
from pbx.agi.server import AgiHangup, AgiServer, AgiSession
from pbx.ami.client import AmiClient, AmiError, AmiNotConnected
from pbx.ami.codec import AmiMessage
from pbx.events import CallAnswered, CallEnded, CallEvent
from pbx.journal import CallJournal
from pbx.services import CallTrackingService
from server.bus import EventBus
from server.clock import SystemClock
from tests.harness.asterisk import installation_for_tests, settings_for_tests
from tests.harness.softphone import Softphone
from tests.pbx.lab import ACCOUNTS, ami_config, until

pytestmark = pytest.mark.asterisk


async def start_asterisk(workdir: Path, *, agi_port: int | None = None) -> AsteriskInstance:
    install = await asyncio.to_thread(installation_for_tests)
    settings = settings_for_tests(install, workdir, ACCOUNTS[:2], agi_port=agi_port)
    instance = AsteriskInstance(install, workdir, settings)
    await instance.start()
    return instance


@pytest.fixture
async def asterisk(tmp_path: Path) -> AsyncIterator[AsteriskInstance]:
    instance = await start_asterisk(tmp_path / "asterisk")
    yield instance
    await instance.stop()


@pytest.fixture
async def client(asterisk: AsteriskInstance) -> AsyncIterator[AmiClient]:
    ami = AmiClient(ami_config(asterisk))
    await ami.start()
    await ami.wait_connected(10)
    yield ami
    await ami.close()


async def test_command_output_comes_back_whole(client: AmiClient) -> None:
    answer = await client.send_action("Command", {"Command": "core show version"})
    assert answer.output[0].startswith("Asterisk 22.")
    answer = await client.send_action("Command", {"Command": "dialplan show agents"})
    assert len(answer.output) > 3
    assert any("_[A-Za-z0-9_.-]." in line for line in answer.output)


async def test_event_list_is_collected_until_complete(client: AmiClient) -> None:
    originate = {
        "Channel": "Local/s@caller-robot",
        "Application": "Wait",
        "Data": "10",
        "CallerID": "Жанна <200>",
    }
    await client.originate(originate, timeout=10)
    answer = await client.send_action("CoreShowChannels")
    assert answer.complete is not None and answer.complete.event == "CoreShowChannelsComplete"
    assert int(answer.complete["ListItems"]) == len(answer.events) == 2
    assert {e.event for e in answer.events} == {"CoreShowChannel"}


async def test_errors_are_clear(client: AmiClient) -> None:
    with pytest.raises(AmiError, match="Invalid/unknown command"):
        await client.send_action("NoSuchAction")
    with pytest.raises(AmiError, match=r"Originate failed"):
        # Nothing answers a channel to an extension that does not exist.
        await client.originate(
            {"Channel": "Local/9999@nowhere", "Application": "Wait", "Data": "1"}, timeout=10
        )


async def test_a_failing_handler_does_not_stop_the_others(
    client: AmiClient, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def broken(msg: AmiMessage) -> None:
        raise RuntimeError("handler bug")

    async def working(msg: AmiMessage) -> None:
        seen.append(msg.event or "")

    client.subscribe(broken)
    client.subscribe(working)
    with caplog.at_level(logging.ERROR, logger="pbx.ami"):
        await client.send_action("UserEvent", {"UserEvent": "Probe1"})
        await client.send_action("UserEvent", {"UserEvent": "Probe2"})
        await until(lambda: seen.count("UserEvent") >= 2, 5)
    assert client.connected
    assert "handler bug" in caplog.text and "event=UserEvent" in caplog.text


async def test_events_reach_slow_async_handlers_in_the_order_read(client: AmiClient) -> None:
    order: list[int] = []

    async def slow(msg: AmiMessage) -> None:
        if msg.event == "UserEvent" and msg.get("UserEvent") == "Seq":
            n = int(msg["N"])
            # Later events must wait for earlier ones, however long those take.
            await asyncio.sleep(0.02 if n % 3 == 0 else 0)
            order.append(n)

    client.subscribe(slow)
    # Sent back to back, they arrive in one or a few reads.
    await asyncio.gather(
        *(client.send_action("UserEvent", {"UserEvent": "Seq", "N": str(n)}) for n in range(40))
    )
    await until(lambda: len(order) == 40, 10)
    assert order == sorted(order)


async def test_frozen_asterisk_is_detected_within_the_ping_deadline(
    asterisk: AsteriskInstance,
) -> None:
    config = ami_config(asterisk, ping_interval_s=1.0, ping_timeout_s=1.0)
    ami = AmiClient(config)
    changes: list[tuple[bool, float]] = []
    ami.on_connection_change(lambda up: changes.append((up, time.monotonic())))
    await ami.start()
    try:
        await ami.wait_connected(10)
        frozen_at = time.monotonic()
        await asterisk.freeze()
        try:
            deadline = config.ping_interval_s + config.ping_timeout_s
            await until(lambda: not ami.connected, deadline + 2)
            detected = time.monotonic() - frozen_at
            with pytest.raises(AmiNotConnected):
                await ami.send_action("Ping")
        finally:
            asterisk.thaw()
        # The deadline: the next ping goes out within an interval, its answer is due
        # a timeout later.
        assert detected <= deadline + 0.3
        await ami.wait_connected(10)
        assert (await ami.send_action("Ping")).get("Ping") == "Pong"
        await asyncio.sleep(0.1)
        assert [up for up, _ in changes] == [True, False, True]
    finally:
        await ami.close()


@pytest.fixture
async def phones(asterisk: AsteriskInstance, tmp_path: Path) -> AsyncIterator[dict[str, Softphone]]:
    registrar = ("127.0.0.1", asterisk.settings.sip_port)
    phones = {
        a.name: Softphone(tmp_path / f"phone-{a.name}", a.name, a.secret, registrar)
        for a in ACCOUNTS[:2]
    }
    await asyncio.gather(*(p.start() for p in phones.values()))
    yield phones
    await asyncio.gather(*(p.stop() for p in phones.values()), return_exceptions=True)


@pytest.mark.parametrize("how", ["restart", "crash"])
async def test_restart_mid_call_closes_the_call_and_tracking_goes_on(
    asterisk: AsteriskInstance, phones: dict[str, Softphone], db_pool: asyncpg.Pool, how: str
) -> None:
    """``restart``: Asterisk hangs its channels up on the way down (we may see it or
    not); ``crash``: it dies without a word, and only the resync after the reconnect
    can tell that the call is over."""
    bus = EventBus()
    seen: list[CallEvent] = []
    bus.subscribe(object, seen.append)
    CallJournal(db_pool).subscribe(bus.subscribe)
    ami = AmiClient(ami_config(asterisk))
    tracking = CallTrackingService(ami, bus.publish, clock=SystemClock().now)
    await ami.start()
    await ami.wait_connected(10)
    await tracking.start()
    try:
        await phones["1001"].dial("1002")
        await phones["1002"].wait_for("CALL_INCOMING")
        await phones["1002"].accept()
        await phones["1001"].wait_for("CALL_ESTABLISHED")
        await until(lambda: any(isinstance(e, CallAnswered) for e in seen), 10)
        (first_call,) = tracking.tracker.calls.values()

        if how == "crash":
            assert asterisk.pid is not None
            os.kill(asterisk.pid, signal.SIGKILL)
        await asyncio.wait_for(asterisk.restart(), 60)
        await ami.wait_connected(15)
        await until(lambda: any(isinstance(e, CallEnded) for e in seen), 15)
        await bus.drain()
        row = await db_pool.fetchrow(
            "SELECT * FROM calls WHERE call_id = $1 AND started_at = $2",
            first_call.call_id,
            first_call.started_at,
        )
        assert row is not None, "the call cut by the restart is in the journal"
        assert row["disposition"] == "answered" and row["answered_by_number"] == "1002"
        if how == "crash":
            assert row["closed_by_resync"] is True
            assert row["hangup_by"] == "unknown"
        assert tracking.tracker.calls == {}

        # The phones still think they are in the old call; end it on their side.
        for phone in phones.values():
            await phone.hangup()
        await phones["1001"].wait_for("CALL_CLOSED")
        if how == "crash":
            # A killed Asterisk may not have saved the phones' registrations.
            for account in ACCOUNTS[:2]:
                old = phones[account.name]
                await old.stop()
                phones[account.name] = Softphone(
                    old.workdir.with_name(old.workdir.name + "-again"),
                    account.name,
                    account.secret,
                    old.registrar,
                )
                await phones[account.name].start()
        await _registered(asterisk)
        await phones["1001"].dial("1002")
        await phones["1002"].wait_for(lambda e: e.type == "CALL_INCOMING", timeout_s=15)
        await phones["1002"].accept()
        await phones["1001"].wait_for("CALL_ESTABLISHED")
        await asyncio.sleep(0.5)
        await phones["1002"].hangup()
        await until(lambda: len([e for e in seen if isinstance(e, CallEnded)]) >= 2, 15)
        await bus.drain()
        second = [e for e in seen if isinstance(e, CallEnded)][1].record
        # The new Asterisk may well reuse the first call's id (seconds + a counter).
        row = await db_pool.fetchrow(
            "SELECT * FROM calls WHERE call_id = $1 AND started_at = $2",
            second.call_id,
            second.started_at,
        )
        assert row["closed_by_resync"] is False
        assert (row["caller_number"], row["destination"], row["answered_by_number"]) == (
            "1001",
            "1002",
            "1002",
        )
        assert (row["disposition"], row["hangup_by"]) == ("answered", "callee")
    finally:
        await tracking.close()
        await ami.close()
        await bus.close()


async def _registered(asterisk: AsteriskInstance) -> None:
    async with asyncio.timeout(20):
        while True:
            contacts = await asterisk.cli("pjsip show contacts")
            if all(f"{a.name}/sip:" in contacts for a in ACCOUNTS[:2]):
                return
            await asyncio.sleep(0.2)


async def test_agi_scripts_with_hangups_mid_command(tmp_path: Path) -> None:
    agi = AgiServer("127.0.0.1", 0, command_timeout=30)
    results: list[str] = []

    async def ivr(session: AgiSession) -> None:
        await session.command("ANSWER")
        name = await session.command("GET VARIABLE CALLERID(name)")
        results.append(f"caller {name.data}")
        try:
            # A 20-second prompt; the robot caller hangs up after 1 s.
            await session.command("STREAM FILE demo-congrats #")
            await session.command("WAIT FOR DIGIT 5000")
            results.append("not hung up")
        except AgiHangup:
            results.append("hung up")

    agi.route("ivr", ivr)
    await agi.start()
    instance = await start_asterisk(tmp_path / "asterisk", agi_port=agi.port)
    ami = AmiClient(ami_config(instance))
    await ami.start()
    try:
        await ami.wait_connected(10)

        async def robot_call() -> None:
            await ami.originate(
                {
                    "Channel": "Local/500@ivr-in",
                    "Context": "caller-robot",
                    "Exten": "s",
                    "Priority": "1",
                    "CallerID": "Пётр <79161112233>",
                    "Variable": "ROBOT_HOLD=1",
                },
                timeout=15,
            )

        await asyncio.gather(*(robot_call() for _ in range(5)))
        await until(lambda: len(results) >= 10, 20)
        assert sorted(results) == sorted(["caller Пётр", "hung up"] * 5)
        await until(lambda: agi.active_sessions == 0, 10)
    finally:
        await ami.close()
        await instance.stop()
        await agi.close()
