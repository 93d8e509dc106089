"""When raw legs that nobody finished count as finished. Pure; no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta


def abandoned_end(
    leg_mtimes: Sequence[float | None], created_at: datetime, now: datetime, quiet_s: float
) -> datetime | None:
    """The moment a recording nobody closed ended, or None while it may still be live.

    MixMonitor appends to both legs every 20 ms for as long as the call lasts, so
    legs that have not changed for ``quiet_s`` belong to a call that is over (the
    server died before it saw the hang-up); their last change is when it ended.
    Legs that never appeared count from when the recording was registered.
    """
    quiet = timedelta(seconds=quiet_s)
    seen = [datetime.fromtimestamp(m, UTC) for m in leg_mtimes if m is not None]
    last = max(seen, default=created_at)
    return last if now - last >= quiet else None
