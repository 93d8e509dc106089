"""A real Asterisk 22 with real baresip softphones: the harness every integration test uses."""

from __future__ import annotations

import array
import asyncio
import os
import re
import socket
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asterisk_conf.instance import AsteriskInstance, AsteriskStartError
from asterisk_conf.render import SipAccount, write_accounts
from tests.harness.asterisk import (
    RawAmi,
    installation_for_tests,
    reload_accounts,
    settings_for_tests,
    start_test_asterisk,
)
from tests.harness.softphone import Softphone, SoftphoneError

pytestmark = pytest.mark.asterisk

ACCOUNTS = (
    SipAccount("1001", "secret-1001", caller_name="Agent One"),
    SipAccount("1002", "secret-1002", caller_name="Агент Два"),
    SipAccount("1003", "secret-1003"),
)


@pytest.fixture(scope="module")
async def asterisk(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsteriskInstance]:
    instance = await start_test_asterisk(tmp_path_factory.mktemp("asterisk"), ACCOUNTS)
    yield instance
    await instance.stop()


@pytest.fixture
async def ami(asterisk: AsteriskInstance) -> AsyncIterator[RawAmi]:
    session = await RawAmi.connect(asterisk)
    yield session
    await session.close()


@pytest.fixture
async def phones(asterisk: AsteriskInstance, tmp_path: Path) -> AsyncIterator[PhoneFactory]:
    factory = PhoneFactory(asterisk, tmp_path)
    yield factory
    await asyncio.gather(*(phone.stop() for phone in factory.started))


class PhoneFactory:
    def __init__(self, asterisk: AsteriskInstance, workdir: Path):
        self.asterisk = asterisk
        self.workdir = workdir
        self.started: list[Softphone] = []

    async def __call__(self, user: str, secret: str = "", answer_mode: str = "manual") -> Softphone:
        settings = self.asterisk.settings
        phone = Softphone(
            self.workdir / f"phone-{user}-{len(self.started)}",
            user,
            secret or f"secret-{user}",
            (settings.bind_address, settings.sip_port),
            answer_mode=answer_mode,  # type: ignore[arg-type]
        )
        self.started.append(phone)
        await phone.start()
        return phone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _peak(path: Path) -> int:
    with wave.open(str(path)) as audio:
        samples = array.array("h", audio.readframes(audio.getnframes()))
    return max((abs(s) for s in samples), default=0)


async def test_instance_boots_and_ami_accepts_a_login(asterisk: AsteriskInstance) -> None:
    ami = await RawAmi.connect(asterisk)
    try:
        assert ami.banner.startswith("Asterisk Call Manager/")
        pong = await ami.send({"Action": "Ping"})
        assert pong["Response"] == "Success"
    finally:
        await ami.close()
    assert "Asterisk 22." in await asterisk.cli("core show version")


async def test_every_module_listed_in_modules_conf_is_running(asterisk: AsteriskInstance) -> None:
    listed = set(
        re.findall(r"^load => (\S+)$", (asterisk.etc_dir / "modules.conf").read_text(), re.M)
    )
    shown = await asterisk.cli("module show")
    running = {line.split()[0] for line in shown.splitlines() if " Running " in line}
    assert listed - running == set()


async def test_two_instances_run_side_by_side_on_their_own_ports(
    asterisk: AsteriskInstance, tmp_path: Path
) -> None:
    second = await start_test_asterisk(tmp_path / "second")
    try:
        mine, theirs = asterisk.settings, second.settings
        assert {mine.sip_port, mine.ami_port} & {theirs.sip_port, theirs.ami_port} == set()
        for instance in (asterisk, second):
            ami = await RawAmi.connect(instance)
            assert (await ami.send({"Action": "Ping"}))["Response"] == "Success"
            await ami.close()
    finally:
        await second.stop()


async def test_stop_leaves_no_asterisk_process_and_no_mount(tmp_path: Path) -> None:
    instance = await start_test_asterisk(tmp_path / "short-lived")
    pid = instance.pid
    assert pid is not None
    await instance.stop()
    assert not _alive(pid)
    assert instance.pid is None
    mounts = Path("/proc/mounts").read_text()
    assert str(instance.instance_dir) not in mounts
    root = getattr(instance.install, "root", None)
    assert root is None or str(root) not in mounts


async def test_restart_keeps_ports_and_the_accounts_written_at_run_time(tmp_path: Path) -> None:
    instance = await start_test_asterisk(tmp_path / "restarted")
    try:
        first_pid = instance.pid
        write_accounts((SipAccount("1088", "written-later"),), instance.etc_dir)
        await instance.restart()
        assert instance.pid != first_pid
        ami = await RawAmi.connect(instance)
        endpoint = await ami.send({"Action": "PJSIPShowEndpoint", "Endpoint": "1088"})
        assert endpoint["Response"] == "Success"
        await ami.close()
    finally:
        await instance.stop()


async def test_start_fails_loudly_when_the_sip_port_is_taken(tmp_path: Path) -> None:
    install = await asyncio.to_thread(installation_for_tests)
    settings = settings_for_tests(install, tmp_path / "clash")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind((settings.bind_address, settings.sip_port))
        instance = AsteriskInstance(install, tmp_path / "clash", settings)
        with pytest.raises(AsteriskStartError, match="SIP transport is not bound"):
            await instance.start()
    assert instance.pid is None


async def test_frozen_asterisk_stops_answering_until_thawed(tmp_path: Path) -> None:
    instance = await start_test_asterisk(tmp_path / "frozen")
    try:
        ami = await RawAmi.connect(instance)
        await instance.freeze()
        with pytest.raises(TimeoutError):
            await ami.send({"Action": "Ping"}, timeout_s=0.5)
        instance.thaw()
        assert (await ami.send({"Action": "Ping"}))["Response"] == "Success"
        await ami.close()
    finally:
        await instance.stop()


async def test_two_softphones_register(asterisk: AsteriskInstance, phones: PhoneFactory) -> None:
    await phones("1001")
    await phones("1002")
    contacts = await asterisk.cli("pjsip show contacts")
    assert "1001/sip:1001" in contacts
    assert "1002/sip:1002" in contacts


async def test_account_added_at_run_time_registers_after_reload_without_restart(
    asterisk: AsteriskInstance, ami: RawAmi, phones: PhoneFactory, tmp_path: Path
) -> None:
    pid = asterisk.pid
    newcomer = SipAccount("1077", "fresh-secret")
    stranger = Softphone(
        tmp_path / "stranger",
        newcomer.name,
        newcomer.secret,
        (asterisk.settings.bind_address, asterisk.settings.sip_port),
    )
    with pytest.raises(SoftphoneError, match="could not register"):
        await stranger.start()

    await reload_accounts(asterisk, ami, (*ACCOUNTS, newcomer))

    phone = await phones(newcomer.name, newcomer.secret)
    assert phone.events[-1].type == "REGISTER_OK"
    assert asterisk.pid == pid
    # Removing it works the same way; the module's accounts for the tests that follow.
    await reload_accounts(asterisk, ami, ACCOUNTS)
    gone = await ami.send({"Action": "PJSIPShowEndpoint", "Endpoint": newcomer.name})
    assert gone["Response"] == "Error"


async def test_originate_reaches_an_auto_answering_phone_which_hears_the_playback(
    asterisk: AsteriskInstance, ami: RawAmi, phones: PhoneFactory
) -> None:
    phone = await phones("1001", answer_mode="auto")
    response = await ami.send(
        {
            "Action": "Originate",
            "Channel": "PJSIP/1001",
            "Application": "Playback",
            "Data": "hello-world",
            "Async": "true",
        }
    )
    assert response["Response"] == "Success"
    established = await phone.wait_for("CALL_ESTABLISHED")
    assert established.direction == "incoming"
    result = await ami.wait_event("OriginateResponse")
    assert result["Response"] == "Success"
    await phone.wait_for("CALL_CLOSED", timeout_s=15)
    [heard] = phone.heard_files()
    assert _peak(heard) > 1000


async def test_phone_calls_phone_through_the_agents_context(
    asterisk: AsteriskInstance, phones: PhoneFactory
) -> None:
    caller = await phones("1001")
    callee = await phones("1002")
    await caller.dial("1002")
    ringing = await callee.wait_for("CALL_INCOMING")
    assert ringing.peer_uri is not None and "1001" in ringing.peer_uri
    await callee.accept()
    await caller.wait_for("CALL_ESTABLISHED")
    await callee.wait_for("CALL_ESTABLISHED")
    await caller.hangup()
    await callee.wait_for("CALL_CLOSED")


async def test_blind_transfer_from_a_phone_rings_the_target(
    asterisk: AsteriskInstance, phones: PhoneFactory
) -> None:
    caller = await phones("1001")
    agent = await phones("1002")
    colleague = await phones("1003")
    await caller.dial("1002")
    await agent.wait_for("CALL_INCOMING")
    await agent.accept()
    await caller.wait_for("CALL_ESTABLISHED")
    await agent.transfer("1003")
    await colleague.wait_for("CALL_INCOMING")
    await colleague.accept()
    await colleague.wait_for("CALL_ESTABLISHED")
    await agent.wait_for("CALL_CLOSED")
    await caller.hangup()
    await colleague.wait_for("CALL_CLOSED")


async def test_inbound_call_falls_back_to_ringing_agents_when_the_server_is_unreachable(
    asterisk: AsteriskInstance, ami: RawAmi, phones: PhoneFactory
) -> None:
    agent = await phones("1001")
    response = await ami.send(
        {
            "Action": "Originate",
            "Channel": f"Local/{asterisk.settings.inbound_number}@ivr-in",
            "Context": "caller-robot",
            "Exten": "s",
            "Priority": "1",
            "Variable": "ROBOT_HOLD=2",
            "Async": "true",
        }
    )
    assert response["Response"] == "Success"
    await ami.wait_event(lambda e: e.get("Event") == "QueueCallerJoin")
    await agent.wait_for("CALL_INCOMING")
    await agent.accept()
    await agent.wait_for("CALL_ESTABLISHED")
    await agent.wait_for("CALL_CLOSED", timeout_s=20)
