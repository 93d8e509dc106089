"""Sites that embed the web chat widget: their department, origins and working hours."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ivr.schedule import Schedule

from . import repository

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
ORIGIN_PATTERN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")


@dataclass(frozen=True)
class Site:
    key: str
    name: str
    department_id: int
    allowed_origins: tuple[str, ...]
    schedule: Schedule | None
    schedule_document: dict[str, Any] | None

    def allows(self, origin: str | None) -> bool:
        """Visitors' sockets come only from the site's own pages."""
        return origin is not None and origin in self.allowed_origins

    def is_open(self, at: datetime) -> bool:
        return self.schedule is None or self.schedule.is_open(at)


def site_from_row(row: asyncpg.Record) -> Site:
    document = json.loads(row["schedule"]) if row["schedule"] is not None else None
    return Site(
        key=row["key"],
        name=row["name"],
        department_id=row["department_id"],
        allowed_origins=tuple(row["allowed_origins"]),
        schedule=Schedule.from_dict(document) if document is not None else None,
        schedule_document=document,
    )


def new_site_key() -> str:
    return secrets.token_urlsafe(12)


class SiteService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, key: str) -> Site | None:
        if not KEY_PATTERN.match(key):
            return None
        async with self._pool.acquire() as conn:
            row = await repository.get_site(conn, key)
        return None if row is None else site_from_row(row)

    async def list(self) -> list[Site]:
        async with self._pool.acquire() as conn:
            return [site_from_row(r) for r in await repository.list_sites(conn)]

    async def put(
        self,
        key: str,
        name: str,
        department_id: int,
        allowed_origins: Sequence[str],
        schedule: dict[str, Any] | None,
    ) -> Site:
        """Raises ValueError (bad key, origin or schedule) or ForeignKeyViolationError."""
        if not KEY_PATTERN.match(key):
            raise ValueError("key: 8-64 letters, digits, '_' or '-'")
        for origin in allowed_origins:
            if not ORIGIN_PATTERN.match(origin):
                raise ValueError(f"allowed_origins: {origin!r} is not scheme://host[:port]")
        if schedule is not None:
            Schedule.from_dict(schedule)
        async with self._pool.acquire() as conn:
            row = await repository.put_site(
                conn, key, name, department_id, allowed_origins, schedule
            )
        return site_from_row(row)

    async def delete(self, key: str) -> bool:
        async with self._pool.acquire() as conn:
            return await repository.delete_site(conn, key)
