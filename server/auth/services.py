"""Login, sessions, API tokens and user administration."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from server.auth import repository as repo
from server.auth.access import ROLES, User
from server.auth.passwords import hash_password, verify_password
from server.clock import Clock
from server.config import AuthConfig

API_TOKEN_PREFIX = "sbt_"
# A client address may fail this many times more often than one username, so one
# office behind NAT does not lock itself out because of one forgetful colleague.
_IP_FAILURE_FACTOR = 4


class LoginFailed(Exception):
    """Wrong username or password; deliberately does not say which."""


class LoginThrottled(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__("too many failed logins")
        self.retry_after_s = retry_after_s


class UserExists(Exception):
    pass


class UserNotFound(Exception):
    pass


@dataclass(frozen=True)
class Session:
    user: User
    token: str
    csrf_token: str


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class AuthService:
    def __init__(self, pool: asyncpg.Pool, config: AuthConfig, secret_key: bytes, clock: Clock):
        self._pool = pool
        self._config = config
        self._secret = secret_key
        self._clock = clock

    # Cookies: a random token plus its HMAC, so forged cookies are refused before any
    # database look-up and a stolen database gives no usable session (only hashes).
    def sign(self, token: str) -> str:
        mac = hmac.new(self._secret, token.encode(), hashlib.sha256).digest()
        return token + "." + base64.urlsafe_b64encode(mac[:18]).decode()

    def unsign(self, cookie: str) -> str | None:
        token, _, _mac = cookie.rpartition(".")
        if not token or not hmac.compare_digest(self.sign(token), cookie):
            return None
        return token

    async def login(self, username: str, password: str, client_ip: str) -> Session:
        username = username.strip().lower()
        window = self._config.login_window_s
        async with self._pool.acquire() as conn:
            by_user, by_ip = await repo.count_recent_failures(conn, username, client_ip, window)
            limit = self._config.login_max_failures
            if by_user >= limit or by_ip >= limit * _IP_FAILURE_FACTOR:
                raise LoginThrottled(window)
            row = await repo.user_credentials(conn, username)
            ok = verify_password(row["password_hash"] if row else None, password)
            if not ok or row is None or not row["active"]:
                await repo.record_failure(conn, username, client_ip)
                raise LoginFailed()
            await repo.clear_failures(conn, username)
            token = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(24)
            expires = self._clock.now() + timedelta(seconds=self._config.session_max_age_s)
            await repo.insert_session(conn, _digest(token), row["id"], csrf, expires)
            return Session(repo.user_from_row(row), token, csrf)

    async def logout(self, token: str) -> None:
        async with self._pool.acquire() as conn:
            await repo.delete_session(conn, _digest(token))

    async def session(self, token: str) -> Session | None:
        async with self._pool.acquire() as conn:
            row = await repo.session_user(conn, _digest(token))
        if row is None:
            return None
        return Session(repo.user_from_row(row), token, row["csrf_token"])

    async def user_for_api_token(self, token: str) -> User | None:
        if not token.startswith(API_TOKEN_PREFIX):
            return None
        async with self._pool.acquire() as conn:
            row = await repo.api_token_user(conn, _digest(token))
        return repo.user_from_row(row) if row else None

    async def create_api_token(self, user_id: int, name: str) -> tuple[asyncpg.Record, str]:
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self._pool.acquire() as conn:
            row = await repo.insert_api_token(conn, user_id, name, _digest(token))
        return row, token

    async def list_api_tokens(self, user_id: int) -> list[asyncpg.Record]:
        async with self._pool.acquire() as conn:
            return await repo.list_api_tokens(conn, user_id)

    async def revoke_api_token(self, user_id: int, token_id: int) -> bool:
        async with self._pool.acquire() as conn:
            return await repo.revoke_api_token(conn, user_id, token_id)


class UserService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, username: str, password: str, role: str, display_name: str = "") -> User:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        password_hash = hash_password(password)
        async with self._pool.acquire() as conn:
            try:
                user_id = await repo.insert_user(
                    conn, username.strip().lower(), display_name, role, password_hash
                )
            except asyncpg.UniqueViolationError:
                raise UserExists(username) from None
            return repo.user_from_row(await repo.get_user(conn, user_id))

    async def get(self, user_id: int) -> asyncpg.Record:
        async with self._pool.acquire() as conn:
            row = await repo.get_user(conn, user_id)
        if row is None:
            raise UserNotFound(user_id)
        return row

    async def list(self) -> list[asyncpg.Record]:
        async with self._pool.acquire() as conn:
            return await repo.list_users(conn)

    async def update(
        self,
        user_id: int,
        *,
        display_name: str | None = None,
        role: str | None = None,
        password: str | None = None,
        active: bool | None = None,
    ) -> asyncpg.Record:
        if role is not None and role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        password_hash = hash_password(password) if password is not None else None
        async with self._pool.acquire() as conn, conn.transaction():
            found = await repo.update_user(
                conn,
                user_id,
                display_name=display_name,
                role=role,
                password_hash=password_hash,
                active=active,
            )
            if not found:
                raise UserNotFound(user_id)
            # A changed password, role or deactivation ends the user's open sessions.
            if password_hash is not None or role is not None or active is False:
                await repo.delete_user_sessions(conn, user_id)
            return await repo.get_user(conn, user_id)
