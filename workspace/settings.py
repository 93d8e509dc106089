"""The workspace's own settings, kept by admins: canned responses and wrap-up codes."""

from __future__ import annotations

import asyncpg

from . import repository


class UnknownDepartment(ValueError):
    pass


class WorkspaceSettings:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def canned(self) -> list[asyncpg.Record]:
        async with self._pool.acquire() as conn:
            return await repository.canned_responses(conn, None)

    async def create_canned(
        self, title: str, body: str, department_id: int | None
    ) -> asyncpg.Record:
        async with self._pool.acquire() as conn:
            try:
                return await repository.insert_canned(conn, title, body, department_id)
            except asyncpg.ForeignKeyViolationError:
                raise UnknownDepartment(f"no department {department_id}") from None

    async def update_canned(
        self, canned_id: int, title: str, body: str, department_id: int | None
    ) -> asyncpg.Record | None:
        async with self._pool.acquire() as conn:
            try:
                return await repository.update_canned(conn, canned_id, title, body, department_id)
            except asyncpg.ForeignKeyViolationError:
                raise UnknownDepartment(f"no department {department_id}") from None

    async def delete_canned(self, canned_id: int) -> bool:
        async with self._pool.acquire() as conn:
            return await repository.delete_canned(conn, canned_id)

    async def dispositions(self) -> list[asyncpg.Record]:
        async with self._pool.acquire() as conn:
            return await repository.dispositions(conn, active_only=False)

    async def put_disposition(
        self, code: str, label: str, active: bool, position: int
    ) -> asyncpg.Record:
        async with self._pool.acquire() as conn:
            return await repository.put_disposition(conn, code, label, active, position)
