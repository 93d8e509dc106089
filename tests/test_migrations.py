from __future__ import annotations

import asyncpg

from server.db import discover_migrations, migrate
from tests.db import dsn_with_database


async def test_migrations_apply_to_an_empty_database_and_a_second_run_is_a_noop(
    pg_admin_dsn: str,
) -> None:
    admin = await asyncpg.connect(pg_admin_dsn)
    await admin.execute('CREATE DATABASE "sb_migration_check"')
    dsn = dsn_with_database(pg_admin_dsn, "sb_migration_check")
    try:
        first = await migrate(dsn)
        assert [m.version for m in first] == [m.version for m in discover_migrations()]
        assert first, "there is at least one migration"
        second = await migrate(dsn)
        assert second == []
        conn = await asyncpg.connect(dsn)
        try:
            versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
            assert [r["version"] for r in versions] == [m.version for m in first]
            assert await conn.fetchval("SELECT count(*) FROM users") == 0
        finally:
            await conn.close()
    finally:
        await admin.execute('DROP DATABASE "sb_migration_check" WITH (FORCE)')
        await admin.close()
