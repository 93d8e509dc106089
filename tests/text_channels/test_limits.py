"""What a customer may send, and visitors' tokens: pure rules."""

from __future__ import annotations

from text_channels.config import TextChannelsConfig
from text_channels.limits import RateLimiter, check_file, check_text
from text_channels.visitors import attachment_signature, new_visitor, verify, visitor_key

CONFIG = TextChannelsConfig(max_text_chars=10, max_file_bytes=100)


def test_texts_are_refused_empty_or_too_long_with_a_reason() -> None:
    assert check_text("hello", CONFIG) is None
    assert check_text("   ", CONFIG).reason == "empty"  # type: ignore[union-attr]
    assert check_text("", CONFIG, allow_empty=True) is None
    assert check_text("x" * 11, CONFIG).reason == "too_long"  # type: ignore[union-attr]


def test_a_file_must_be_small_of_an_allowed_type_and_really_that_type() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
    assert check_file("a.png", "image/png", png, CONFIG) is None
    assert check_file("a.png", "image/png", png * 20, CONFIG).reason == "file_too_large"  # type: ignore[union-attr]
    assert check_file("a.exe", "application/x-msdownload", b"MZ", CONFIG).reason == "file_type"  # type: ignore[union-attr]
    assert check_file("a.png", "image/png", b"<svg onload=x>", CONFIG).reason == "file_type"  # type: ignore[union-attr]
    assert check_file("a.txt", "text/plain", b"\xff\xfe\x00", CONFIG).reason == "file_type"  # type: ignore[union-attr]
    assert check_file("../a.txt", "text/plain", b"hi", CONFIG).reason == "file_name"  # type: ignore[union-attr]
    assert check_file("a.txt", "text/plain", b"", CONFIG).reason == "file_empty"  # type: ignore[union-attr]


def test_the_rate_limiter_allows_a_burst_then_one_per_period() -> None:
    limiter = RateLimiter(burst=3, per_s=1.0)
    assert [limiter.take("v", 0.0) for _ in range(3)] == [None, None, None]
    wait = limiter.take("v", 0.0)
    assert wait is not None and 0.9 < wait <= 1.0
    assert limiter.take("other", 0.0) is None
    assert limiter.take("v", 1.0) is None
    assert limiter.take("v", 1.0) is not None


def test_only_tokens_the_server_signed_name_a_visitor() -> None:
    key = visitor_key(b"server secret")
    visitor, token = new_visitor(key)
    assert verify(key, token) == visitor
    assert verify(visitor_key(b"another secret"), token) is None
    assert verify(key, visitor + ".forged") is None
    assert verify(key, "no-dot") is None
    assert attachment_signature(key, 1, visitor) != attachment_signature(key, 2, visitor)
