"""Latency samples the IVR keeps about itself (AGI round trips, answer-to-queue), for
``/metrics`` and the benchmark."""

from __future__ import annotations

from collections import deque


class Samples:
    """The last ``size`` samples of one measurement, in milliseconds."""

    def __init__(self, size: int = 100_000) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, ms: float) -> None:
        self._values.append(ms)

    def clear(self) -> None:
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values)

    def percentile(self, p: float) -> float | None:
        """Nearest-rank percentile (``p`` in 0..100), None without samples."""
        if not self._values:
            return None
        ordered = sorted(self._values)
        rank = max(1, -(-len(ordered) * p // 100))
        return ordered[int(rank) - 1]


class IvrStats:
    def __init__(self) -> None:
        # From writing an AGI command that plays no media to reading its result.
        self.agi_rtt_ms = Samples()
        # From the caller's menu digit to the interaction committed to the queue.
        self.answer_to_queue_ms = Samples()
