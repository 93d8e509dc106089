"""FastAGI codec and server. The peers here send what Asterisk would not — garbage,
silence, a hang-up mid-command — which is exactly what a real Asterisk cannot be made
to do on demand; the real-Asterisk path is in test_asterisk_agi.py."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pbx.agi.codec import (
    AgiDecoder,
    AgiEncodeError,
    AgiHangupNotice,
    AgiProtocolError,
    AgiRequest,
    AgiResult,
    encode_command,
    parse_result,
)
from pbx.agi.server import AgiHangup, AgiServer, AgiSession

ENV = (
    "agi_network: yes\n"
    "agi_network_script: ivr\n"
    "agi_request: agi://127.0.0.1/ivr?menu=main\n"
    "agi_channel: PJSIP/1001-00000001\n"
    "agi_uniqueid: 1700000000.1\n"
    "agi_callerid: 1001\n"
    "agi_calleridname: Иван\n"
    "agi_arg_1: first\n"
    "agi_arg_2: second arg\n"
    "\n"
).encode()


def test_decoder_reads_environment_results_usage_and_hangup() -> None:
    dec = AgiDecoder()
    for i in range(len(ENV)):  # one byte at a time, Cyrillic included
        dec.receive_data(ENV[i : i + 1])
    req = dec.next_event()
    assert isinstance(req, AgiRequest)
    assert req.script == "ivr"
    assert req.query == {"menu": "main"}
    assert req.args == ["first", "second arg"]
    assert req.env["agi_calleridname"] == "Иван"
    dec.receive_data(b"200 result=50 (timeout) endpos=8000\nHANGUP\n")
    dec.receive_data(b"520-Invalid command syntax.  Proper usage follows:\nUsage: x\n")
    dec.receive_data(b"520 End of proper usage.\n")
    res = dec.next_event()
    assert res == AgiResult(200, "50", "timeout", {"endpos": "8000"}, res.lines)  # type: ignore[union-attr]
    assert isinstance(res, AgiResult) and res.digit == "2"
    assert isinstance(dec.next_event(), AgiHangupNotice)
    usage = dec.next_event()
    assert isinstance(usage, AgiResult) and usage.code == 520 and len(usage.lines) == 3


def test_parse_result_variants() -> None:
    assert parse_result("200 result=1").result == "1"
    assert parse_result("200 result=-1").digit == ""
    assert parse_result("200 result=1 (some data with spaces)").data == "some data with spaces"
    assert parse_result("510 Invalid or unknown command").code == 510
    with pytest.raises(AgiProtocolError):
        parse_result("hello")


def test_decoder_refuses_garbage_environment() -> None:
    with pytest.raises(AgiProtocolError):
        AgiDecoder().receive_data(b"GET / HTTP/1.1\r\n")


def test_encode_command_refuses_a_second_line() -> None:
    assert encode_command('STREAM FILE beep ""') == b'STREAM FILE beep ""\n'
    with pytest.raises(AgiEncodeError):
        encode_command("HANGUP\nEXEC System rm")


class FakeChannel:
    """The Asterisk side of one FastAGI connection, scripted by the test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, server: AgiServer) -> FakeChannel:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        return cls(reader, writer)

    async def command(self) -> str:
        return (await asyncio.wait_for(self.reader.readline(), 5)).decode().rstrip("\n")

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 5) == b""


@pytest.fixture
async def server():
    srv = AgiServer("127.0.0.1", 0, header_timeout=0.5, command_timeout=2)
    await srv.start()
    yield srv
    await srv.close()


async def test_routes_by_path_and_runs_commands(server: AgiServer) -> None:
    seen: list[tuple[str, str, str]] = []

    async def ivr(session: AgiSession) -> None:
        answer = await session.command("ANSWER")
        digits = await session.command("GET DATA beep 3000 1")
        seen.append((session.script, answer.result or "", digits.result or ""))

    server.route("/ivr/", ivr)
    chan = await FakeChannel.open(server)
    chan.send(ENV)
    assert await chan.command() == "ANSWER"
    chan.send(b"200 result=0\n")
    assert await chan.command() == "GET DATA beep 3000 1"
    chan.send(b"200 result=2\n")
    assert await chan.closed()
    assert seen == [("ivr", "0", "2")]


async def test_garbage_and_silence_do_not_hurt_the_server(
    server: AgiServer, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    async def ivr(session: AgiSession) -> None:
        calls.append(session.request.channel)

    server.route("ivr", ivr)
    garbage = await FakeChannel.open(server)
    garbage.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not agi at all\n")
    silent = await FakeChannel.open(server)  # says nothing: header timeout
    huge = await FakeChannel.open(server)
    huge.send(b"agi_x: " + b"a" * 70000)
    unknown = await FakeChannel.open(server)
    unknown.send(ENV.replace(b"script: ivr", b"script: nothing-here"))
    with caplog.at_level(logging.INFO, logger="pbx.agi"):
        for chan in (garbage, silent, huge, unknown):
            assert await chan.closed()
    good = await FakeChannel.open(server)
    good.send(ENV)
    assert await good.closed()
    assert calls == ["PJSIP/1001-00000001"]
    assert "bad request" in caplog.text and "no such script" in caplog.text


async def test_hangup_mid_command_ends_only_that_session(server: AgiServer) -> None:
    outcome: list[str] = []
    release = asyncio.Event()

    async def ivr(session: AgiSession) -> None:
        try:
            await session.command("STREAM FILE long-prompt #")
        except AgiHangup:
            outcome.append("hangup")
            await release.wait()

    server.route("ivr", ivr)
    first = await FakeChannel.open(server)
    first.send(ENV)
    assert await first.command() == "STREAM FILE long-prompt #"
    second = await FakeChannel.open(server)
    second.send(ENV)
    assert await second.command() == "STREAM FILE long-prompt #"
    first.writer.close()  # the caller hangs up while the prompt plays
    await asyncio.sleep(0.2)
    assert outcome == ["hangup"]
    second.send(b"HANGUP\n200 result=0 endpos=100\n")  # Asterisk's own hang-up notice
    await asyncio.sleep(0.2)
    assert outcome == ["hangup"]  # the command that was running still got its answer
    release.set()
    assert await second.closed()


async def test_a_failing_handler_is_logged_and_contained(
    server: AgiServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def boom(session: AgiSession) -> None:
        raise RuntimeError("handler bug")

    server.route("ivr", boom)
    with caplog.at_level(logging.ERROR, logger="pbx.agi"):
        chan = await FakeChannel.open(server)
        chan.send(ENV)
        assert await chan.closed()
    assert "handler failed" in caplog.text and "PJSIP/1001-00000001" in caplog.text


async def test_many_concurrent_sessions(server: AgiServer) -> None:
    async def echo(session: AgiSession) -> None:
        for i in range(5):
            res = await session.command(f"SET VARIABLE X {i}")
            assert res.result == str(i)

    server.route("ivr", echo)

    async def one() -> None:
        chan = await FakeChannel.open(server)
        chan.send(ENV)
        for i in range(5):
            assert await chan.command() == f"SET VARIABLE X {i}"
            chan.send(f"200 result={i}\n".encode())
        assert await chan.closed()

    await asyncio.gather(*(one() for _ in range(100)))
    assert server.active_sessions == 0
