"""SQL for users, sessions, API tokens and login failures. Functions take a connection."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from server.auth.access import User

_USER_COLUMNS = """u.id, u.username, u.display_name, u.role, u.active, u.created_at,
                   a.sip_endpoint"""
_USER_FROM = "users u LEFT JOIN agents a ON a.user_id = u.id"


def user_from_row(row: asyncpg.Record) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        sip_endpoint=row["sip_endpoint"],
    )


async def user_credentials(conn: asyncpg.Connection, username: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_USER_COLUMNS}, u.password_hash FROM {_USER_FROM} WHERE u.username = $1",
        username,
    )


async def get_user(conn: asyncpg.Connection, user_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM {_USER_FROM} WHERE u.id = $1", user_id)


async def list_users(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {_USER_COLUMNS} FROM {_USER_FROM} ORDER BY u.id")


async def insert_user(
    conn: asyncpg.Connection, username: str, display_name: str, role: str, password_hash: str
) -> int:
    return await conn.fetchval(
        """INSERT INTO users (username, display_name, role, password_hash)
           VALUES ($1, $2, $3, $4) RETURNING id""",
        username,
        display_name,
        role,
        password_hash,
    )


async def update_user(conn: asyncpg.Connection, user_id: int, **fields: object) -> bool:
    allowed = {"display_name", "role", "password_hash", "active"}
    sets = [(k, v) for k, v in fields.items() if k in allowed and v is not None]
    if not sets:
        return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", user_id)
    assignments = ", ".join(f"{name} = ${i + 2}" for i, (name, _) in enumerate(sets))
    status = await conn.execute(
        f"UPDATE users SET {assignments}, updated_at = now() WHERE id = $1",
        user_id,
        *(v for _, v in sets),
    )
    return status != "UPDATE 0"


async def insert_session(
    conn: asyncpg.Connection, token_hash: bytes, user_id: int, csrf: str, expires_at: datetime
) -> None:
    await conn.execute(
        """INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at)
           VALUES ($1, $2, $3, $4)""",
        token_hash,
        user_id,
        csrf,
        expires_at,
    )


async def session_user(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT {_USER_COLUMNS}, s.csrf_token FROM sessions s
            JOIN {_USER_FROM} ON u.id = s.user_id
            WHERE s.token_hash = $1 AND s.expires_at > now() AND u.active""",
        token_hash,
    )


async def delete_session(conn: asyncpg.Connection, token_hash: bytes) -> None:
    await conn.execute("DELETE FROM sessions WHERE token_hash = $1", token_hash)


async def delete_user_sessions(conn: asyncpg.Connection, user_id: int) -> None:
    await conn.execute("DELETE FROM sessions WHERE user_id = $1", user_id)


async def insert_api_token(
    conn: asyncpg.Connection, user_id: int, name: str, token_hash: bytes
) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO api_tokens (user_id, name, token_hash) VALUES ($1, $2, $3)
           RETURNING id, name, created_at""",
        user_id,
        name,
        token_hash,
    )


async def list_api_tokens(conn: asyncpg.Connection, user_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, name, created_at, last_used_at FROM api_tokens
           WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id""",
        user_id,
    )


async def revoke_api_token(conn: asyncpg.Connection, user_id: int, token_id: int) -> bool:
    status = await conn.execute(
        """UPDATE api_tokens SET revoked_at = now()
           WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL""",
        token_id,
        user_id,
    )
    return status != "UPDATE 0"


async def api_token_user(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""UPDATE api_tokens t SET last_used_at = now()
            FROM {_USER_FROM}
            WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.id = t.user_id AND u.active
            RETURNING {_USER_COLUMNS}""",
        token_hash,
    )


async def count_recent_failures(
    conn: asyncpg.Connection, username: str, client_ip: str, window_s: int
) -> tuple[int, int]:
    """Failed logins in the window: (for this username, from this address)."""
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM login_failures
                    WHERE username = $1 AND at > now() - make_interval(secs => $3)) AS by_user,
                  (SELECT count(*) FROM login_failures
                    WHERE client_ip = $2 AND at > now() - make_interval(secs => $3)) AS by_ip""",
        username,
        client_ip,
        float(window_s),
    )
    return row["by_user"], row["by_ip"]


async def record_failure(conn: asyncpg.Connection, username: str, client_ip: str) -> None:
    await conn.execute(
        "INSERT INTO login_failures (username, client_ip) VALUES ($1, $2)", username, client_ip
    )


async def clear_failures(conn: asyncpg.Connection, username: str) -> None:
    await conn.execute("DELETE FROM login_failures WHERE username = $1", username)
