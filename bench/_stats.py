"""Figures the benchmarks share."""

from __future__ import annotations

import math


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile (0 < p ≤ 100) in the values' unit, rounded to
    hundredths; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return round(ordered[rank - 1], 2)
