"""HTTP range requests for playback (pure)."""

from __future__ import annotations

import pytest

from recording.ranges import ByteRange, UnsatisfiableRange, requested_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 100)),
        ("bytes=100-", ByteRange(100, 1000)),
        ("bytes=-100", ByteRange(900, 1000)),
        ("bytes=-5000", ByteRange(0, 1000)),
        ("bytes=900-5000", ByteRange(900, 1000)),
        ("bytes=999-999", ByteRange(999, 1000)),
        (" bytes = 0-0 ", ByteRange(0, 1)),
    ],
)
def test_a_single_byte_range_selects_those_bytes(header: str, expected: ByteRange) -> None:
    assert requested_range(header, 1000) == expected


@pytest.mark.parametrize("header", [None, "", "items=0-10", "bytes=0-10,20-30"])
def test_no_range_another_unit_or_several_ranges_get_the_whole_file(header: str | None) -> None:
    assert requested_range(header, 1000) is None


@pytest.mark.parametrize(
    "header",
    ["bytes=1000-", "bytes=5-2", "bytes=-0", "bytes=-", "bytes=abc", "bytes=1-x", "bytes=٣-"],
)
def test_malformed_or_out_of_file_ranges_are_unsatisfiable(header: str) -> None:
    with pytest.raises(UnsatisfiableRange):
        requested_range(header, 1000)


def test_an_empty_file_satisfies_no_range() -> None:
    with pytest.raises(UnsatisfiableRange):
        requested_range("bytes=0-", 0)


def test_if_range_of_another_version_sends_the_whole_file() -> None:
    assert requested_range("bytes=0-9", 100, if_range='"abc"', etag='"abc"') == ByteRange(0, 10)
    assert requested_range("bytes=0-9", 100, if_range='"old"', etag='"abc"') is None


def test_content_range_names_the_last_byte_and_the_size() -> None:
    assert ByteRange(10, 20).content_range(100) == "bytes 10-19/100"
