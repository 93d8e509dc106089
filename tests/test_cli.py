"""The ``switchboard`` command's administrative subcommands, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg

from asterisk_conf.render import CONFIG_FILES

SWITCHBOARD = Path(sys.executable).with_name("switchboard")


def _run(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SWITCHBOARD), *args], input=stdin, capture_output=True, text=True, env=env,
        timeout=120, check=False,
    )  # fmt: skip


async def test_db_migrate_and_user_create_work_on_a_configured_database(
    pg_admin_dsn: str, db_dsn: str
) -> None:
    env = {**os.environ, "DATABASE_URL": db_dsn}
    migrated = _run("db", "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "nothing to apply" in migrated.stdout
    created = _run(
        "user", "create", "Boss", "--role", "admin", "--password-stdin",
        env=env, stdin="a-long-password\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    conn = await asyncpg.connect(db_dsn)
    try:
        row = await conn.fetchrow("SELECT role, password_hash FROM users WHERE username='boss'")
    finally:
        await conn.close()
    assert row["role"] == "admin"
    assert row["password_hash"].startswith("$argon2id$")
    again = _run(
        "user", "create", "boss", "--role", "operator", "--password-stdin",
        env=env, stdin="another-password\n",
    )  # fmt: skip
    assert again.returncode != 0
    assert "already exists" in again.stderr


def test_asterisk_render_writes_a_configuration_for_debians_layout(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SWITCHBOARD_AMI__SECRET": "render-secret-1",
        "SWITCHBOARD_AMI__PORT": "5039",
    }
    out = tmp_path / "etc"
    rendered = _run("asterisk", "render", "--out", str(out), env=env)
    assert rendered.returncode == 0, rendered.stderr
    assert {p.name for p in out.iterdir()} >= set(CONFIG_FILES)
    manager = (out / "manager.conf").read_text()
    assert "5039" in manager
    assert "render-secret-1" in manager
    assert "/etc/asterisk" in (out / "asterisk.conf").read_text()


def test_asterisk_render_refuses_without_an_ami_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SWITCHBOARD_AMI__SECRET"}
    rendered = _run("asterisk", "render", "--out", str(tmp_path / "etc"), env=env)
    assert rendered.returncode == 2
    assert "ami.secret" in rendered.stderr
