"""Reading tones back out of recordings: each side of a test call plays its own
frequency, so which side is on which channel is a question of power per frequency."""

from __future__ import annotations

import asyncio
import math
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pbx.audio import pcm_stream

DEADLINE_S = 30.0
RATE = 8000
WINDOW_S = 0.05


async def until(check: Callable[[], Any], what: str, timeout_s: float = DEADLINE_S) -> Any:
    """Wait for state that other processes change (a file Asterisk writes, a row)."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                result = await check() if asyncio.iscoroutinefunction(check) else check()
                if result:
                    return result
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def leg_seconds(path: Path) -> float:
    """Seconds of audio MixMonitor has written to a leg so far (44-byte header; it
    writes in blocks of 32 KiB, about 2 s)."""
    try:
        return max(path.stat().st_size - 44, 0) / (2 * RATE)
    except FileNotFoundError:
        return 0.0


def channel_samples(path: Path, channel: int) -> array:
    samples = array("h")
    with pcm_stream(path, RATE, channel) as chunks:
        for chunk in chunks:
            samples.frombytes(chunk)
    return samples


def windows(samples: array) -> list[array]:
    n = int(WINDOW_S * RATE)
    return [samples[i : i + n] for i in range(0, len(samples) - n + 1, n)]


def rms(window: array) -> float:
    return math.sqrt(sum(s * s for s in window) / len(window))


def tone_power(window: array, hz: int) -> float:
    """Goertzel: the power of one frequency in a window."""
    coeff = 2 * math.cos(2 * math.pi * hz / RATE)
    s1 = s2 = 0.0
    for sample in window:
        s1, s2 = sample + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2
