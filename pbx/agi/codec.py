"""The FastAGI wire format, without I/O (h11 style).

Asterisk opens the connection and sends the environment — ``agi_key: value`` lines
ended by a blank line — then waits for commands. Each command is one line; each
answer is one line (``200 result=1 (timeout) endpos=8000``), except the ``520-``
usage text that runs until ``520 End of proper usage.``. A bare ``HANGUP`` line can
arrive at any time when the channel hangs up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "AgiDecoder",
    "AgiEncodeError",
    "AgiHangupNotice",
    "AgiProtocolError",
    "AgiRequest",
    "AgiResult",
    "encode_command",
]

# The environment of a real channel is a few KiB; more is not Asterisk.
MAX_HEADER_BYTES = 64 * 1024
MAX_LINE_BYTES = 64 * 1024

_RESULT = re.compile(r"^(\d{3})(?:\s+result=(\S*))?(?:\s+\((.*)\))?(.*)$")


class AgiProtocolError(ValueError):
    """Bytes that are not FastAGI."""


class AgiEncodeError(ValueError):
    """A command that cannot be sent as one line."""


@dataclass(frozen=True, slots=True)
class AgiRequest:
    """The environment Asterisk sent when the script started."""

    env: dict[str, str]

    @property
    def script(self) -> str:
        """The path of ``agi://host:port/PATH?query`` without slashes at either end."""
        script = self.env.get("agi_network_script")
        if script is None:
            script = urlsplit(self.env.get("agi_request", "")).path
        return script.split("?", 1)[0].strip("/")

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.env.get("agi_request", "")).query))

    @property
    def args(self) -> list[str]:
        out = []
        i = 1
        while f"agi_arg_{i}" in self.env:
            out.append(self.env[f"agi_arg_{i}"])
            i += 1
        return out

    @property
    def channel(self) -> str:
        return self.env.get("agi_channel", "")

    @property
    def uniqueid(self) -> str:
        return self.env.get("agi_uniqueid", "")


@dataclass(frozen=True, slots=True)
class AgiResult:
    """One answer: ``code`` (200 ok, 510 unknown command, 511 dead channel, 520 usage),
    ``result`` (the ``result=`` value), ``data`` (the text in parentheses), ``extra``
    (further ``key=value`` pairs such as ``endpos``)."""

    code: int
    result: str | None
    data: str | None
    extra: dict[str, str] = field(default_factory=dict)
    lines: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def digit(self) -> str:
        """The DTMF digit of WAIT FOR DIGIT / STREAM FILE (result is its ASCII code)."""
        if self.result is None or not self.result.lstrip("-").isdigit():
            return ""
        code = int(self.result)
        return chr(code) if code > 0 else ""


@dataclass(frozen=True, slots=True)
class AgiHangupNotice:
    """Asterisk's ``HANGUP`` line: the channel is gone, the script may still clean up."""


def parse_result(line: str) -> AgiResult:
    m = _RESULT.match(line)
    if m is None:
        raise AgiProtocolError(f"not an AGI result line: {line!r}")
    code, result, data, rest = m.groups()
    extra = dict(p.split("=", 1) for p in rest.split() if "=" in p)
    return AgiResult(int(code), result, data, extra, (line,))


class AgiDecoder:
    """Decoder of what Asterisk sends on one FastAGI connection."""

    def __init__(self) -> None:
        self._buf = b""
        self._env: dict[str, str] | None = {}
        self._usage: list[str] | None = None
        self._ready: list[AgiRequest | AgiResult | AgiHangupNotice] = []

    def receive_data(self, data: bytes) -> None:
        self._buf += data
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                limit = MAX_HEADER_BYTES if self._env is not None else MAX_LINE_BYTES
                if len(self._buf) > limit:
                    raise AgiProtocolError(f"line longer than {limit} bytes")
                return
            raw, self._buf = self._buf[:nl], self._buf[nl + 1 :]
            self._line(raw.rstrip(b"\r").decode("utf-8", "replace"))

    def next_event(self) -> AgiRequest | AgiResult | AgiHangupNotice | None:
        return self._ready.pop(0) if self._ready else None

    def _line(self, line: str) -> None:
        env = self._env
        if env is not None:
            if not line:
                if not env:
                    return  # blank lines before the environment: tolerate
                self._env = None
                self._ready.append(AgiRequest(env))
                return
            key, sep, value = line.partition(":")
            if not sep or not key.startswith("agi_"):
                raise AgiProtocolError(f"not an AGI environment line: {line[:80]!r}")
            env[key.strip()] = value.strip()
            if sum(len(k) + len(v) for k, v in env.items()) > MAX_HEADER_BYTES:
                raise AgiProtocolError("AGI environment too large")
            return
        if self._usage is not None:
            self._usage.append(line)
            if line.startswith("520 "):
                lines = tuple(self._usage)
                self._usage = None
                self._ready.append(AgiResult(520, None, None, {}, lines))
            return
        if line == "HANGUP":
            self._ready.append(AgiHangupNotice())
        elif line.startswith("520-"):
            self._usage = [line]
        elif line:
            self._ready.append(parse_result(line))


def encode_command(command: str) -> bytes:
    """One command line. A newline inside would be a second command: refused."""
    if "\n" in command or "\r" in command:
        raise AgiEncodeError("an AGI command must be one line")
    if not command.strip():
        raise AgiEncodeError("empty AGI command")
    return command.encode("utf-8") + b"\n"
