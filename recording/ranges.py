"""HTTP range requests (RFC 9110 §14) for audio playback, so a browser can seek.
Pure; no I/O. One range per request: what audio elements ask for."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ByteRange", "UnsatisfiableRange", "requested_range"]


class UnsatisfiableRange(ValueError):
    """A ``bytes`` range that is malformed or lies outside the file: 416."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


def requested_range(
    header: str | None, size: int, *, if_range: str | None = None, etag: str | None = None
) -> ByteRange | None:
    """The part of a ``size``-byte file a ``Range`` header asks for; None for all of it.

    The whole file is sent when there is no ``Range``, when it counts in a unit other
    than bytes, when it asks for several ranges (allowed: a server may ignore Range),
    and when ``If-Range`` names another version of the file than ``etag``.
    """
    if not header:
        return None
    if if_range is not None and if_range.strip() != etag:
        return None
    unit, eq, spec = header.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first or last) or not all(_number(p) for p in (first, last) if p):
        raise UnsatisfiableRange(f"malformed range {header!r}")
    if not first:
        # The last N bytes.
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise UnsatisfiableRange(f"range {header!r} selects nothing")
        return ByteRange(max(size - suffix, 0), size)
    start = int(first)
    end = size if not last else min(int(last) + 1, size)
    if last and int(last) < start:
        raise UnsatisfiableRange(f"range {header!r} ends before it starts")
    if start >= size:
        raise UnsatisfiableRange(f"range {header!r} starts past the end ({size} bytes)")
    return ByteRange(start, end)


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit()
