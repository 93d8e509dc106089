"""Agents' softphones: which user answers on which PJSIP endpoint, kept live in Asterisk.

The database is the truth. Every change re-renders the PJSIP accounts file Asterisk
includes and asks Asterisk to reload res_pjsip over AMI, so a new agent can register
at once, without an Asterisk restart.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from asterisk_conf.render import SipAccount, write_accounts

log = logging.getLogger(__name__)

# Two characters at least: the dialplan's [agents] pattern needs them, and one-letter
# extensions (h, i, s, t ...) are Asterisk's own.
ENDPOINT_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{2,40}$")
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_.~!@%^*+=-]{8,128}$")

Reloader = Callable[[], Awaitable[None]]


class EndpointTaken(Exception):
    pass


class NotAnAgent(Exception):
    pass


class PhoneDirectory:
    def __init__(
        self, pool: asyncpg.Pool, etc_dir: Path | None, reload: Reloader | None = None
    ) -> None:
        self._pool = pool
        self._etc_dir = etc_dir
        self._reload = reload
        self._lock = asyncio.Lock()

    async def set_agent(
        self, user_id: int, sip_endpoint: str, sip_secret: str | None = None
    ) -> tuple[asyncpg.Record, str]:
        """Make a user an agent on ``sip_endpoint``; returns the row and the SIP secret."""
        if not ENDPOINT_PATTERN.match(sip_endpoint):
            raise ValueError("sip_endpoint is 2-40 letters, digits, '_', '.', '-'")
        if sip_secret is not None and not SECRET_PATTERN.match(sip_secret):
            raise ValueError("sip_secret must be 8-128 characters without spaces or quotes")
        secret = sip_secret or secrets.token_urlsafe(18)
        async with self._pool.acquire() as conn:
            try:
                row = await conn.fetchrow(
                    """INSERT INTO agents (user_id, sip_endpoint, sip_secret)
                       VALUES ($1, $2, $3)
                       ON CONFLICT (user_id) DO UPDATE
                          SET sip_endpoint = EXCLUDED.sip_endpoint,
                              sip_secret = EXCLUDED.sip_secret, updated_at = now()
                       RETURNING user_id, sip_endpoint, created_at""",
                    user_id,
                    sip_endpoint,
                    secret,
                )
            except asyncpg.UniqueViolationError:
                raise EndpointTaken(sip_endpoint) from None
        await self.sync()
        return row, secret

    async def remove_agent(self, user_id: int) -> None:
        async with self._pool.acquire() as conn:
            status = await conn.execute("DELETE FROM agents WHERE user_id = $1", user_id)
        if status == "DELETE 0":
            raise NotAnAgent(user_id)
        await self.sync()

    async def list_agents(self) -> list[asyncpg.Record]:
        async with self._pool.acquire() as conn:
            return await conn.fetch(
                """SELECT a.user_id, a.sip_endpoint, u.username, u.display_name
                   FROM agents a JOIN users u ON u.id = a.user_id ORDER BY a.sip_endpoint"""
            )

    async def accounts(self) -> list[SipAccount]:
        """Every active agent's PJSIP account, as Asterisk must know it."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT a.sip_endpoint, a.sip_secret, u.display_name
                   FROM agents a JOIN users u ON u.id = a.user_id
                   WHERE u.active ORDER BY a.sip_endpoint"""
            )
        return [
            SipAccount(
                name=r["sip_endpoint"],
                secret=r["sip_secret"],
                caller_name=_safe_caller_name(r["display_name"]),
            )
            for r in rows
        ]

    async def sync(self) -> None:
        """Render every agent's account for Asterisk and reload it."""
        if self._etc_dir is None:
            return
        async with self._lock:
            accounts = await self.accounts()
            await asyncio.to_thread(write_accounts, accounts, self._etc_dir)
            if self._reload is not None:
                try:
                    await self._reload()
                except Exception as exc:
                    # The file is written; Asterisk reads it at its next start or reload.
                    log.warning("SIP accounts written but Asterisk not reloaded: %s", exc)


def _safe_caller_name(name: str) -> str:
    return re.sub(r"[^\w .-]", "", name)[:40]
