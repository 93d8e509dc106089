"""File names we choose: MixMonitor's events do not carry the names of the files it
writes, so the server names every leg before the recording starts."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def leg_paths(spool_dir: Path, call_id: str | None, token: str) -> tuple[Path, Path]:
    """(customer leg, agent leg) for one recording; ``token`` makes the pair unique."""
    stem = f"{_UNSAFE.sub('_', call_id or 'call')}-{token}"
    return spool_dir / f"{stem}-customer.wav", spool_dir / f"{stem}-agent.wav"


def storage_key(recording_id: int, created_at: datetime, fmt: str) -> str:
    """``2026/11/22/42.ogg``: one directory a day keeps directories small."""
    return f"{created_at.astimezone(UTC):%Y/%m/%d}/{recording_id}.{fmt}"
