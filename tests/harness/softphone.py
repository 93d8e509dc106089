"""Real SIP softphones for tests: one baresip process per agent, driven over ctrl_tcp.

baresip (Debian's baresip-core 1.0.0) runs without a terminal; ``ctrl_tcp.so`` takes
netstring-framed JSON commands — ``{"command": "dial", "params": "...", "token":
"..."}`` — and answers ``{"response": true, "ok": ..., "data": ..., "token": ...}``;
it also pushes events ``{"event": true, "type": "CALL_INCOMING", "class": "call",
"accountaor": ..., "direction": ..., "peeruri": ..., "id": <SIP Call-ID>, "param": ...}``.
The commands are menu.so's: dial, accept, hangup, transfer (blind, REFER), sndcode
(DTMF), answermode, listcalls, reginfo, uanew, quit.

The account is added with ``uanew`` once the control connection is up, so the
REGISTER_OK that :meth:`Softphone.start` waits for cannot fly by unseen.

Audio: ``aufile`` sends an 8 kHz mono 16-bit WAV to the far end, and baresip 1.0 hangs
up the call when the file ends ("audio error: end of file") — the default source is a
10-minute tone; pad your own with :func:`padded_wav`. baresip 1.0's aufile cannot
play, so what the phone hears is written by ``sndfile``:
``recordings/dump-<YYYY-MM-DD-hh-mm-ss>-dec.wav`` (heard) and ``-enc.wav`` (sent) per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import struct
import tempfile
import wave
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from asterisk_conf.instance import allocate_port_block

MODULE_PATH = Path("/usr/lib/baresip/modules")
# sip_listen takes the first port (UDP and TCP), TLS the next; ctrl_tcp and RTP sit
# further up the same block so that no two phones or Asterisks ever collide.
_PORT_BLOCK = 20
_CTRL_OFFSET = 4
_RTP_OFFSET = 10

# aufile sends 8 kHz mono 16-bit; baresip 1.0 hangs up when the file ends, so the
# default tone lasts longer than any test call.
_RATE = 8000
_DEFAULT_CALL_S = 600

AnswerMode = Literal["auto", "manual"]


class SoftphoneError(RuntimeError):
    """baresip refused a command, failed to register, or is gone."""


@dataclass(frozen=True)
class PhoneEvent:
    """One baresip event, e.g. CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED, REGISTER_OK."""

    type: str
    call_id: str | None = None
    peer_uri: str | None = None
    direction: str | None = None
    param: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, message: Mapping[str, Any]) -> PhoneEvent:
        return cls(
            type=str(message.get("type", "")),
            call_id=message.get("id"),
            peer_uri=message.get("peeruri"),
            direction=message.get("direction"),
            param=message.get("param"),
            raw=dict(message),
        )


# ---- netstring framing (pure) --------------------------------------------------------


def encode_netstring(payload: bytes) -> bytes:
    return b"%d:%s," % (len(payload), payload)


def decode_netstrings(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete netstrings at the start of ``buffer``, and what is left over."""
    messages = []
    while True:
        length, colon, rest = buffer.partition(b":")
        if not colon:
            return messages, buffer
        if not length.isdigit():
            raise SoftphoneError(f"not a netstring: {buffer[:40]!r}")
        size = int(length)
        if len(rest) < size + 1:
            return messages, buffer
        if rest[size : size + 1] != b",":
            raise SoftphoneError(f"netstring without its comma: {buffer[:40]!r}")
        messages.append(rest[:size])
        buffer = rest[size + 1 :]


def tone_wav(path: Path, *, seconds: float, frequency: int = 500) -> Path:
    """Write an 8 kHz mono 16-bit WAV sine tone (what aufile can send).

    ``frequency`` must divide 8000 so that one period repeats exactly.
    """
    if _RATE % frequency:
        raise ValueError(f"{frequency} Hz does not divide {_RATE} Hz")
    period = _RATE // frequency
    cycle = b"".join(
        struct.pack("<h", round(8000 * math.sin(2 * math.pi * i / period))) for i in range(period)
    )
    _write_wav(path, cycle * int(seconds * frequency))
    return path


def padded_wav(source: Path, path: Path, *, seconds: float) -> Path:
    """``source`` (8 kHz mono 16-bit) followed by silence up to ``seconds`` in all:
    a softphone hangs up when its audio ends, so give it as long as the call."""
    with wave.open(str(source)) as audio:
        if (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) != (_RATE, 1, 2):
            raise ValueError(f"{source} is not 8 kHz mono 16-bit")
        frames = audio.readframes(audio.getnframes())
    _write_wav(path, frames + bytes(max(0, int(seconds * _RATE) * 2 - len(frames))))
    return path


def default_tone() -> Path:
    """A shared 10-minute tone file, written once (atomically) per machine."""
    path = Path(tempfile.gettempdir()) / "switchboard-softphone" / f"tone-{_DEFAULT_CALL_S}s.wav"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        tone_wav(partial, seconds=_DEFAULT_CALL_S)
        partial.replace(path)
    return path


def _write_wav(path: Path, frames: bytes) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(_RATE)
        out.writeframes(frames)


# ---- the phone ------------------------------------------------------------------------


class Softphone:
    """A baresip registered as ``user`` to the PJSIP registrar at ``registrar``.

    ``workdir`` (created) holds its config, output and recordings.
    """

    def __init__(
        self,
        workdir: Path,
        user: str,
        password: str,
        registrar: tuple[str, int],
        *,
        answer_mode: AnswerMode = "manual",
        audio_in: Path | None = None,
        host: str = "127.0.0.1",
    ):
        self.workdir = workdir
        self.user = user
        self._password = password
        self.registrar = registrar
        self.answer_mode = answer_mode
        self.audio_in = audio_in
        self.host = host
        self.sip_port = 0
        self.ctrl_port = 0
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._tokens = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Mapping[str, Any]]] = {}
        self._events: list[PhoneEvent] = []
        self._consumed: set[int] = set()
        self._changed = asyncio.Condition()
        self._closed = False

    # -- addresses and files --

    @property
    def aor(self) -> str:
        host, port = self.registrar
        return f"sip:{self.user}@{host}:{port}"

    def uri(self, extension: str) -> str:
        """The SIP URI of ``extension`` at our registrar."""
        host, port = self.registrar
        return f"sip:{extension}@{host}:{port}"

    @property
    def recordings_dir(self) -> Path:
        return self.workdir / "recordings"

    @property
    def output_file(self) -> Path:
        return self.workdir / "baresip.out"

    def heard_files(self) -> list[Path]:
        """WAV files of what this phone received, one per call, oldest first."""
        return sorted(self.recordings_dir.glob("dump-*-dec.wav"))

    @property
    def events(self) -> tuple[PhoneEvent, ...]:
        return tuple(self._events)

    # -- life cycle --

    async def start(self, register_timeout_s: float = 15.0) -> None:
        """Start baresip, add the account and wait until it is registered."""
        if self._process is not None:
            raise SoftphoneError("this softphone was already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.recordings_dir.mkdir(exist_ok=True)
        base = allocate_port_block(_PORT_BLOCK, self.host)
        self.sip_port, self.ctrl_port = base, base + _CTRL_OFFSET
        audio_in = self.audio_in or default_tone()
        (self.workdir / "accounts").write_text("")
        (self.workdir / "config").write_text(self._config(audio_in, base))
        with self.output_file.open("ab") as output:
            self._process = await asyncio.create_subprocess_exec(
                "setpriv", "--pdeathsig", "KILL",
                "baresip", "-f", str(self.workdir),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )  # fmt: skip
        try:
            async with asyncio.timeout(register_timeout_s):
                await self._connect_ctrl()
                await self.command("uanew", self._account_line())
                registered = await self.wait_for(
                    lambda e: e.type in ("REGISTER_OK", "REGISTER_FAIL"), timeout_s=None
                )
        except BaseException:
            await self.stop()
            raise
        if registered.type != "REGISTER_OK":
            await self.stop()
            raise SoftphoneError(f"{self.user} could not register: {registered.param}")

    async def stop(self, grace_s: float = 5.0) -> None:
        """``quit``, then SIGKILL after ``grace_s``; the process is reaped."""
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(SoftphoneError, ConnectionError, TimeoutError):
                async with asyncio.timeout(grace_s):
                    await self.command("quit")
                    await process.wait()
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        if self._read_task is not None:
            await self._read_task

    # -- commands --

    async def command(self, name: str, params: str = "", timeout_s: float = 5.0) -> str:
        """Run a baresip command; its response text. Raises if baresip says not ok."""
        if self._writer is None or self._closed:
            raise SoftphoneError(f"softphone {self.user} is not connected")
        token = str(next(self._tokens))
        future: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[token] = future
        message = json.dumps({"command": name, "params": params, "token": token})
        self._writer.write(encode_netstring(message.encode()))
        try:
            async with asyncio.timeout(timeout_s):
                response = await future
        finally:
            self._pending.pop(token, None)
        if not response.get("ok"):
            raise SoftphoneError(f"{name} {params!r} failed: {response.get('data')!r}")
        return str(response.get("data", ""))

    async def dial(self, target: str) -> None:
        """Call an extension (``1002``) or a full SIP URI."""
        await self.command("dial", target if ":" in target else self.uri(target))

    async def accept(self) -> None:
        await self.command("accept")

    async def hangup(self) -> None:
        await self.command("hangup")

    async def transfer(self, target: str) -> None:
        """Blind transfer (REFER) of the current call to an extension or SIP URI."""
        await self.command("transfer", target if ":" in target else self.uri(target))

    async def send_dtmf(self, digits: str) -> None:
        for digit in digits:
            await self.command("sndcode", digit)

    async def set_answer_mode(self, mode: AnswerMode) -> None:
        await self.command("answermode", mode)
        self.answer_mode = mode

    # -- events --

    async def wait_for(
        self,
        match: str | Callable[[PhoneEvent], bool],
        *,
        timeout_s: float | None = 10.0,
    ) -> PhoneEvent:
        """The oldest event not yet returned by ``wait_for`` that matches.

        ``match`` is an event type or a predicate. Events that came before the call
        count too, so there is no race between acting and waiting.
        """
        predicate = (lambda e: e.type == match) if isinstance(match, str) else match
        async with asyncio.timeout(timeout_s), self._changed:
            while True:
                for index, event in enumerate(self._events):
                    if index not in self._consumed and predicate(event):
                        self._consumed.add(index)
                        return event
                if self._closed:
                    raise SoftphoneError(f"softphone {self.user} closed while waiting")
                await self._changed.wait()

    async def stream(self) -> AsyncIterator[PhoneEvent]:
        """Every event from the first, then new ones as they come, until the phone stops."""
        seen = 0
        while True:
            async with self._changed:
                await self._changed.wait_for(
                    lambda seen=seen: len(self._events) > seen or self._closed
                )
                fresh = self._events[seen:]
            seen += len(fresh)
            for event in fresh:
                yield event
            if not fresh and self._closed:
                return

    # -- internals --

    def _account_line(self) -> str:
        host, port = self.registrar
        return (
            f"<sip:{self.user}@{host}:{port};transport=udp>;auth_pass={self._password}"
            f";answermode={self.answer_mode};regint=60"
        )

    def _config(self, audio_in: Path, base: int) -> str:
        return "\n".join(
            (
                "poll_method epoll",
                f"sip_listen {self.host}:{base}",
                f"rtp_ports {base + _RTP_OFFSET}-{base + _PORT_BLOCK - 1}",
                f"audio_source aufile,{audio_in}",
                f"module_path {MODULE_PATH}",
                "module g711.so",
                "module aufile.so",
                "module sndfile.so",
                f"snd_path {self.recordings_dir}",
                "module_app account.so",
                "module_app menu.so",
                "module_app ctrl_tcp.so",
                f"ctrl_tcp_listen {self.host}:{self.ctrl_port}",
                "",
            )
        )

    async def _connect_ctrl(self) -> None:
        process = self._process
        assert process is not None
        while True:
            if process.returncode is not None:
                tail = self.output_file.read_text(errors="replace")[-2000:]
                raise SoftphoneError(f"baresip exited with {process.returncode}:\n{tail}")
            try:
                self._reader, self._writer = await asyncio.open_connection(
                    self.host, self.ctrl_port
                )
                break
            except OSError:
                await asyncio.sleep(0.02)
        self._read_task = asyncio.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        reader = self._reader
        assert reader is not None
        buffer = b""
        try:
            while data := await reader.read(65536):
                messages, buffer = decode_netstrings(buffer + data)
                for payload in messages:
                    await self._dispatch(json.loads(payload))
        except ConnectionError:
            pass
        finally:
            self._closed = True
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(SoftphoneError(f"softphone {self.user} is gone"))
            async with self._changed:
                self._changed.notify_all()

    async def _dispatch(self, message: Mapping[str, Any]) -> None:
        if message.get("response"):
            future = self._pending.get(str(message.get("token")))
            if future is not None and not future.done():
                future.set_result(message)
        elif message.get("event"):
            async with self._changed:
                self._events.append(PhoneEvent.from_json(message))
                self._changed.notify_all()
