"""What a customer may send: text length, file size and type, message rate. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from .config import TextChannelsConfig

# The first bytes of each allowed type: a declared type must match the content, so a
# script renamed to picture.png is refused.
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why something was not accepted: a stable ``reason`` code and a sentence."""

    reason: str
    message: str


def check_text(
    text: str, config: TextChannelsConfig, *, allow_empty: bool = False
) -> Refusal | None:
    if not text.strip() and not allow_empty:
        return Refusal("empty", "the message is empty")
    if len(text) > config.max_text_chars:
        return Refusal("too_long", f"a message may have at most {config.max_text_chars} characters")
    return None


def check_file(
    name: str, content_type: str, data: bytes, config: TextChannelsConfig
) -> Refusal | None:
    if not name or len(name) > 200 or "/" in name or "\\" in name:
        return Refusal("file_name", "the file needs a plain name of at most 200 characters")
    if len(data) > config.max_file_bytes:
        return Refusal("file_too_large", f"a file may have at most {config.max_file_bytes} bytes")
    if not data:
        return Refusal("file_empty", "the file is empty")
    if content_type not in config.file_types:
        return Refusal("file_type", f"files of type {content_type!r} are not accepted")
    magic = _MAGIC.get(content_type)
    if magic is not None and not data.startswith(magic):
        return Refusal("file_type", f"the file is not really {content_type}")
    if content_type == "text/plain" and not _is_text(data):
        return Refusal("file_type", "the file is not really text/plain")
    return None


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data


class RateLimiter:
    """A token bucket per key: ``burst`` at once, then ``per_s`` per second."""

    def __init__(self, burst: int, per_s: float, max_keys: int = 100_000) -> None:
        self._burst = float(burst)
        self._per_s = per_s
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float) -> float | None:
        """None when allowed; otherwise the seconds until it would be."""
        tokens, at = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._per_s)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self._per_s
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > self._max_keys:
            self._forget_full(now)
        return None

    def _forget_full(self, now: float) -> None:
        """Buckets refilled to the brim are the same as none."""
        full_after = self._burst / self._per_s
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
