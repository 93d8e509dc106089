"""Re-ranking waiting interactions after their department's settings changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import asyncpg

from . import repository
from .directory import Department
from .priority import rank_time


async def rerank_waiting(
    conn: asyncpg.Connection,
    rows: Sequence[asyncpg.Record],
    departments: Mapping[int, Department],
) -> None:
    """``rows`` of repository.waiting_to_rerank (locked), ranked under ``departments``."""
    if not rows:
        return
    ranks, deadlines, versions = [], [], []
    for row in rows:
        department = departments[row["department_id"]]
        settings = department.settings
        ranks.append(
            rank_time(
                row["enqueued_at"],
                row["channel"],
                row["priority"],
                settings.channel_priority,
                settings.priority_step_s,
            )
        )
        deadlines.append(
            row["enqueued_at"] + timedelta(seconds=settings.max_wait_s)
            if settings.max_wait_s
            else None
        )
        versions.append(department.version)
    await repository.rerank(conn, [r["id"] for r in rows], ranks, deadlines, versions)
