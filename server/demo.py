"""The demo accounts ``switchboard up`` creates on a new installation: the first admin
and a few agents with softphone accounts. Their credentials are generated once and kept
in the data directory (readable by its owner only), so every start prints the same."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncpg

from server.auth.services import UserExists, UserService
from server.config import Config
from server.phones import PhoneDirectory


@dataclass(frozen=True)
class DemoAgent:
    username: str
    password: str
    sip_endpoint: str
    sip_secret: str


@dataclass(frozen=True)
class DemoAccounts:
    admin_username: str
    admin_password: str
    agents: tuple[DemoAgent, ...]


def _load_or_make(config: Config, path: Path) -> DemoAccounts:
    if path.exists():
        data = json.loads(path.read_text())
        return DemoAccounts(
            data["admin_username"],
            data["admin_password"],
            tuple(DemoAgent(**a) for a in data["agents"]),
        )
    accounts = DemoAccounts(
        admin_username=config.demo.admin_username,
        admin_password=config.demo.admin_password.get_secret_value() or secrets.token_urlsafe(12),
        agents=tuple(
            DemoAgent(f"agent{ext}", secrets.token_urlsafe(9), ext, secrets.token_urlsafe(12))
            for ext in config.demo.agents
        ),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(asdict(accounts), indent=2))
    return accounts


async def ensure_demo_accounts(
    config: Config, pool: asyncpg.Pool, phones: PhoneDirectory
) -> DemoAccounts:
    """Create the demo users and agents that do not exist yet (never changes existing ones)."""
    accounts = _load_or_make(config, Path(config.server.data_dir) / "demo-credentials.json")
    users = UserService(pool)
    try:
        await users.create(accounts.admin_username, accounts.admin_password, "admin", "Admin")
    except UserExists:
        pass
    for agent in accounts.agents:
        try:
            user = await users.create(
                agent.username, agent.password, "operator", f"Agent {agent.sip_endpoint}"
            )
        except UserExists:
            continue
        await phones.set_agent(user.id, agent.sip_endpoint, agent.sip_secret)
    return accounts
