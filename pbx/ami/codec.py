"""The AMI wire format, without I/O: bytes in, messages out; actions in, bytes out.

In the style of h11: feed what the socket gave with :meth:`AmiDecoder.receive_data`,
then take messages with :meth:`AmiDecoder.next_event` (or all at once with
:meth:`AmiDecoder.events`). Nothing here touches a socket, a loop or a clock.

The stream is a banner line (``Asterisk Call Manager/x.y.z``), then messages made of
``Key: Value`` lines, each message ended by a blank line. Asterisk sends CRLF; files
written by hand often have LF; both are accepted, even mixed.

Text is decoded only once a whole message has arrived. panoramisk decodes every TCP
chunk on its own with decoding errors ignored, which silently drops a UTF-8 character
that a read happens to split (a Cyrillic caller name under load); buffering bytes
until the blank line makes that impossible, because a blank line is ASCII and can
never fall inside a multi-byte character.

This is the hot path of the whole PBX layer, so the parsing is a handful of C-level
calls per chunk (replace, split, decode) and, only for a message whose fields are
read, one regex ``findall`` — no Python work per line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "AmiDecoder",
    "AmiEncodeError",
    "AmiMessage",
    "AmiProtocolError",
    "Banner",
    "encode_action",
]

# One match per well-formed line: the key runs to the first colon, one optional space
# follows, the value is the rest of the line (it may itself contain ": ").
_LINE = re.compile(r"^([^:\n]+): ?(.*)$", re.MULTILINE)

# A message larger than this without a blank line is not AMI; refusing it keeps a
# confused peer from growing our buffer without bound.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class AmiProtocolError(ValueError):
    """Input that is not the AMI wire format; ``line`` is its 1-based line number."""

    def __init__(self, message: str, line: int, text: str = "") -> None:
        super().__init__(f"line {line}: {message}" + (f": {text!r}" if text else ""))
        self.line = line
        self.text = text


class AmiEncodeError(ValueError):
    """An action that cannot be written without changing its meaning."""


@dataclass(frozen=True, slots=True)
class Banner:
    """The first line of an AMI connection, e.g. ``Asterisk Call Manager/11.0.0``."""

    version: str


class AmiMessage(Mapping[str, str]):
    """One AMI message (an event or a response), read-only.

    ``msg[key]`` and ``msg.get(key)`` give the *last* value of a key that occurs more
    than once; :meth:`getall` gives every value in the order received (``Output``
    lines of a ``Command`` response, repeated ``ChanVariable`` lines). Keys are
    case-sensitive, as Asterisk writes them.

    A message read from a live stream is parsed into fields only when a field is
    first asked for: most events (``VarSet``, ``Newexten``, RTCP reports …) are only
    looked at for their name, which :attr:`event` reads without parsing the rest.
    """

    __slots__ = ("_fields", "_pairs", "_text")

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._text: str | None = None
        self._pairs: list[tuple[str, str]] | None = pairs
        self._fields: dict[str, str] | None = dict(pairs)

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> AmiMessage:
        return cls(list(fields.items()))

    @classmethod
    def _lazy(cls, text: str) -> AmiMessage:
        msg = cls.__new__(cls)
        msg._text = text
        msg._pairs = None
        msg._fields = None
        return msg

    def _parse(self) -> dict[str, str]:
        pairs = _LINE.findall(self._text or "")
        self._pairs = pairs
        self._fields = fields = dict(pairs)
        return fields

    def _header(self, key: str) -> str | None:
        """A key that occurs once per message, read without parsing the others."""
        if self._fields is not None:
            return self._fields.get(key)
        text = self._text or ""
        if text.startswith(key + ":"):
            start = len(key) + 1
        else:
            i = text.find("\n" + key + ":")
            if i < 0:
                return None
            start = i + len(key) + 2
        end = text.find("\n", start)
        value = text[start:] if end < 0 else text[start:end]
        return value[1:] if value[:1] == " " else value

    def __getitem__(self, key: str) -> str:
        fields = self._fields
        if fields is None:
            fields = self._parse()
        return fields[key]

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        # Overridden for speed: Mapping.get goes through __getitem__ and an exception.
        fields = self._fields
        if fields is None:
            fields = self._parse()
        return fields.get(key, default)

    def __contains__(self, key: object) -> bool:
        fields = self._fields
        if fields is None:
            fields = self._parse()
        return key in fields

    def __iter__(self) -> Iterator[str]:
        fields = self._fields
        if fields is None:
            fields = self._parse()
        return iter(fields)

    def __len__(self) -> int:
        fields = self._fields
        if fields is None:
            fields = self._parse()
        return len(fields)

    def _all_pairs(self) -> list[tuple[str, str]]:
        if self._pairs is None:
            self._parse()
        return self._pairs  # type: ignore[return-value]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AmiMessage):
            return self._all_pairs() == other._all_pairs()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def getall(self, key: str) -> list[str]:
        """Every value of ``key``, in the order received."""
        return [v for k, v in self._all_pairs() if k == key]

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """Every line as ``(key, value)``, in the order received."""
        return tuple(self._all_pairs())

    @property
    def event(self) -> str | None:
        text = self._text
        # The common case, inlined: an event's first line is its name.
        if self._fields is None and text is not None and text.startswith("Event: "):
            end = text.find("\n")
            return text[7:end] if end >= 0 else text[7:]
        return self._header("Event")

    @property
    def response(self) -> str | None:
        return self._header("Response")

    @property
    def action_id(self) -> str | None:
        return self._header("ActionID")

    @property
    def output(self) -> list[str]:
        """The text lines of a ``Command`` response (Asterisk ≥ 14 sends ``Output:`` lines)."""
        return self.getall("Output")

    def __repr__(self) -> str:
        return f"AmiMessage({self._all_pairs()!r})"


class AmiDecoder:
    """Incremental decoder of one AMI byte stream (one TCP connection or one capture).

    ``strict=False`` (a live connection) ignores a line that is not ``Key: Value``;
    ``strict=True`` (a capture file) raises :class:`AmiProtocolError` naming the line.
    """

    def __init__(self, *, strict: bool = False) -> None:
        self._strict = strict
        self._buf = b""
        # A CR at the very end of a chunk may be the first half of a CRLF.
        self._pending_cr = False
        self._ready: list[AmiMessage | Banner] = []
        self._pos = 0
        self._at_start = True
        # Line number (1-based) of the first line still in _buf; for error messages.
        self._line = 1

    def receive_data(self, data: bytes) -> None:
        """Feed bytes as they came from the stream; ``b""`` marks the end of it."""
        if not data:
            self._finish()
            return
        if self._pending_cr:
            data = b"\r" + data
            self._pending_cr = False
        if data[-1:] == b"\r":
            data = data[:-1]
            self._pending_cr = True
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        buf = self._buf + data if self._buf else data
        if self._at_start:
            buf = self._take_banner(buf)
            if self._at_start:
                self._buf = buf
                return
        end = buf.rfind(b"\n\n")
        if end < 0:
            if len(buf) > MAX_MESSAGE_BYTES:
                raise AmiProtocolError(
                    f"message longer than {MAX_MESSAGE_BYTES} bytes without a blank line",
                    self._line,
                )
            self._buf = buf
            return
        self._buf = buf[end + 2 :]
        self._parse(buf[:end])

    def next_event(self) -> AmiMessage | Banner | None:
        """The next complete message, or ``None`` until more data is received."""
        if self._pos < len(self._ready):
            item = self._ready[self._pos]
            self._pos += 1
            if self._pos == len(self._ready):
                self._ready.clear()
                self._pos = 0
            return item
        return None

    def events(self) -> list[AmiMessage | Banner]:
        """Every complete message received so far (faster than looping on next_event)."""
        ready = self._ready[self._pos :] if self._pos else self._ready
        self._ready = []
        self._pos = 0
        return ready

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished message."""
        return len(self._buf)

    def _take_banner(self, buf: bytes) -> bytes:
        stripped = buf.lstrip(b"\n")
        nl = stripped.find(b"\n")
        if nl < 0 and len(buf) < MAX_MESSAGE_BYTES:
            return buf  # not a whole line yet; decide when it is
        self._at_start = False
        self._line += len(buf) - len(stripped)
        first = stripped[:nl]
        if b"Call Manager/" in first:
            _, _, version = first.partition(b"/")
            self._ready.append(Banner(version.decode("utf-8", "replace").strip()))
            self._line += 1
            return stripped[nl + 1 :]
        return stripped

    def _parse(self, block: bytes) -> None:
        # Split points are ASCII newlines, so decoding whole messages (here: a run of
        # whole messages at once) can never cut a multi-byte character.
        text = block.decode("utf-8", "replace")
        if self._strict:
            self._parse_strict(text)
        else:
            lazy = AmiMessage._lazy
            # "" and "\n" are what runs of extra blank lines between messages leave.
            self._ready.extend(lazy(c) for c in text.split("\n\n") if c and c != "\n")
        self._line += text.count("\n") + 2

    def _parse_strict(self, text: str) -> None:
        """Parse every line now, and name the first that is not ``Key: Value``."""
        ready = self._ready
        offset = 0
        for chunk in text.split("\n\n"):
            if chunk:
                pairs = _LINE.findall(chunk)
                if len(pairs) != chunk.count("\n") + 1:
                    self._check_lines(chunk, text, offset)
                if pairs:
                    ready.append(AmiMessage(pairs))
            offset += len(chunk) + 2

    def _check_lines(self, chunk: str, text: str, offset: int) -> None:
        first = self._line + text.count("\n", 0, offset)
        for i, line in enumerate(chunk.split("\n")):
            # Extra blank lines between messages show up here as empty lines; harmless.
            if line and _LINE.fullmatch(line) is None:
                raise AmiProtocolError("not a 'Key: Value' line", first + i, line)

    def _finish(self) -> None:
        if self._pending_cr:
            self._buf += b"\r"
            self._pending_cr = False
        rest = self._buf.strip(b"\r\n")
        self._buf = b""
        if rest:
            if self._at_start:
                rest = self._take_banner(rest + b"\n").rstrip(b"\n")
            # A final message without its blank line (a truncated capture) is still read.
            self._parse(rest)


def encode_action(
    name: str,
    fields: Mapping[str, str | Sequence[str]] | None = None,
    action_id: str | None = None,
) -> bytes:
    """One action on the wire. A sequence value repeats the key (e.g. ``Variable``).

    Values may not contain CR or LF: a newline would end the line and let the rest of
    the value be read as more fields or a second action (AMI injection).
    """
    lines = [("Action", name)]
    if action_id is not None:
        lines.append(("ActionID", action_id))
    for key, value in (fields or {}).items():
        if isinstance(value, str):
            lines.append((key, value))
        else:
            lines.extend((key, v) for v in value)
    out = []
    for key, value in lines:
        if not isinstance(value, str):
            raise AmiEncodeError(f"value of {key!r} must be text, got {type(value).__name__}")
        if not key or ":" in key or _has_newline(key) or key.strip() != key:
            raise AmiEncodeError(f"invalid AMI key {key!r}")
        if _has_newline(value):
            raise AmiEncodeError(f"value of {key!r} contains a line break")
        out.append(f"{key}: {value}\r\n")
    out.append("\r\n")
    return "".join(out).encode("utf-8")


def _has_newline(s: str) -> bool:
    return "\r" in s or "\n" in s
