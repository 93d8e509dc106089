"""Bringing the pieces up: the database the config names (or an embedded one), the
Asterisk it names (or a local one), and the HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from asterisk_conf.instance import AsteriskInstance, layout_for
from asterisk_conf.provision import Installation, find_system_asterisk, provision
from asterisk_conf.render import (
    AsteriskSettings,
    InstanceLayout,
    OutboundTrunk,
    SipAccount,
    write_config,
)
from server.app import create_app
from server.config import Config
from server.db import EmbeddedPostgres, create_pool, migrate
from server.demo import DemoAccounts, ensure_demo_accounts
from server.logging_setup import setup_logging
from server.phones import PhoneDirectory

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def database_url(config: Config) -> AsyncIterator[str]:
    """The configured database, or an embedded PostgreSQL in the data directory."""
    url = config.database.url.get_secret_value()
    if url:
        yield url
        return
    embedded = EmbeddedPostgres(Path(config.server.data_dir) / "postgres")
    url = await asyncio.to_thread(embedded.start)
    try:
        yield url
    finally:
        await asyncio.to_thread(embedded.stop)


async def start_site(app: web.Application, config: Config) -> web.AppRunner:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.server.host, config.server.port)
    await site.start()
    return runner


async def wait_for_stop_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def serve_forever(config: Config) -> int:
    """``switchboard serve``: the server alone, until SIGINT/SIGTERM."""
    setup_logging(config.logging.level, config.logging.json_lines)
    async with database_url(config) as dsn:
        config = config.replace(database={"url": dsn})
        runner = await start_site(create_app(config), config)
        log.info("serving", extra={"host": config.server.host, "port": config.server.port})
        try:
            await wait_for_stop_signal()
        finally:
            await runner.cleanup()
    return 0


def _persistent_secret(path: Path) -> str:
    """A random secret generated once and kept in ``path`` (owner-only)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(24))
    return path.read_text().strip()


def asterisk_settings(
    config: Config, layout: InstanceLayout, ami_secret: str, accounts: tuple[SipAccount, ...]
) -> AsteriskSettings:
    """What Asterisk is rendered with, from the one configuration."""
    return AsteriskSettings(
        bind_address=config.asterisk.bind_address,
        sip_port=config.asterisk.sip_port,
        rtp_start=config.asterisk.rtp_start,
        rtp_end=config.asterisk.rtp_end,
        http_port=config.asterisk.http_port,
        ami_port=config.ami.port,
        ami_username=config.ami.username,
        ami_secret=ami_secret,
        agi_host=config.agi.advertised_host,
        agi_port=config.agi.port,
        inbound_number=config.asterisk.inbound_number,
        layout=layout,
        accounts=accounts,
        ring_timeout_s=max(1, round(config.timers.ring_timeout_s)),
        trunk=outbound_trunk(config),
    )


def outbound_trunk(config: Config) -> OutboundTrunk | None:
    """The ``[trunk]`` section as the dialplan's carrier; None without a host."""
    trunk = config.trunk
    if not trunk.host:
        return None
    return OutboundTrunk(
        host=trunk.host,
        port=trunk.port,
        caller_id_number=trunk.caller_id_number,
        caller_id_name=trunk.caller_id_name,
        dial_prefix=trunk.dial_prefix,
        username=trunk.username,
        secret=trunk.secret.get_secret_value(),
        ring_timeout_s=trunk.ring_timeout_s,
    )


def debian_layout(machine: str | None = None) -> InstanceLayout:
    """Where Debian's asterisk package keeps things: the layout inside the Docker image
    (built for the machine that renders the configuration)."""
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
    triplet = arch.get((machine or platform.machine()).lower(), "x86_64") + "-linux-gnu"
    return InstanceLayout(
        etc=Path("/etc/asterisk"),
        run=Path("/var/run/asterisk"),
        lib=Path("/var/lib/asterisk"),
        db=Path("/var/lib/asterisk"),
        spool=Path("/var/spool/asterisk"),
        log=Path("/var/log/asterisk"),
        data_dir=Path("/usr/share/asterisk"),
        modules_dir=Path(f"/usr/lib/{triplet}/asterisk/modules"),
    )


def render_asterisk_config(config: Config, out: Path) -> Path:
    """``switchboard asterisk render``: the configuration of an Asterisk with Debian's
    layout (the Docker image), agents' accounts left to the running server."""
    secret = config.ami.secret.get_secret_value()
    if not secret:
        raise ValueError("ami.secret must be set to render a configuration for another host")
    write_config(asterisk_settings(config, debian_layout(), secret, ()), out)
    return out


def _use_external_asterisk(config: Config) -> bool:
    mode = config.asterisk.mode
    return mode == "external" or (mode == "auto" and bool(config.ami.secret.get_secret_value()))


async def _installation(config: Config) -> Installation:
    mode = config.asterisk.mode
    if mode in ("auto", "system"):
        system = await asyncio.to_thread(find_system_asterisk)
        if system is not None:
            return system
        if mode == "system":
            raise ValueError("asterisk.mode is 'system' but no asterisk binary is installed")
    # Only the first run on a machine builds the root file system; later runs reuse it.
    installed = await asyncio.to_thread(provision, config.asterisk.cache_dir / "asterisk-sid")
    log.info("asterisk root", extra={"root": str(installed.root), "version": installed.version})
    return installed


async def _local_asterisk(
    config: Config, dsn: str, stack: contextlib.AsyncExitStack
) -> tuple[Config, DemoAccounts | None]:
    """Start a local Asterisk with the agents' accounts; the config to reach it."""
    data_dir = Path(config.server.data_dir)
    install = await _installation(config)
    instance_dir = data_dir / "asterisk"
    ami_secret = config.ami.secret.get_secret_value() or _persistent_secret(data_dir / "ami_secret")
    layout = layout_for(install, instance_dir)
    config = config.replace(
        ami={"host": config.asterisk.bind_address, "secret": ami_secret},
        asterisk={"etc_dir": str(layout.etc)},
        # MixMonitor writes the legs where Asterisk sees them; inside the instance
        # directory that is the same path for the server (bind-mounted at that path).
        recording={"spool_dir": str(config.recording.spool_dir or layout.spool / "recordings")},
    )
    pool = await create_pool(dsn, 1, 2)
    try:
        phones = PhoneDirectory(pool, None)
        demo = await ensure_demo_accounts(config, pool, phones) if config.demo.enabled else None
        accounts = tuple(await phones.accounts())
    finally:
        await pool.close()
    instance = AsteriskInstance(
        install, instance_dir, asterisk_settings(config, layout, ami_secret, accounts)
    )
    await instance.start(config.asterisk.start_timeout_s)
    stack.push_async_callback(instance.stop)
    return config, demo


def _summary(config: Config, demo: DemoAccounts | None, external: bool) -> str:
    web_url = f"http://{config.server.host}:{config.server.port}/"
    lines = [
        "Switchboard is up.",
        f"  web:        {web_url}",
        f"  health:     {web_url}healthz",
        f"  AMI:        {config.ami.host}:{config.ami.port}"
        + (" (external Asterisk)" if external else ""),
        f"  FastAGI:    {config.agi.host}:{config.agi.port}",
    ]
    if not external:
        lines += [
            f"  SIP (UDP):  {config.asterisk.bind_address}:{config.asterisk.sip_port}",
            f"  inbound number: {config.asterisk.inbound_number}",
        ]
    if demo is not None:
        lines.append(f"  admin login: {demo.admin_username} / {demo.admin_password}")
        for agent in demo.agents:
            lines.append(
                f"  agent {agent.username}: web password {agent.password}; "
                f"SIP account {agent.sip_endpoint} / {agent.sip_secret}"
            )
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def with_absolute_data_dir(config: Config) -> Config:
    """The config with its data directory made absolute and created."""
    data_dir = Path(config.server.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return config.replace(server={"data_dir": str(data_dir)})


async def run_stack(config: Config) -> int:
    """``switchboard up``: PostgreSQL, Asterisk and the server, until SIGINT/SIGTERM.

    ``config.server.data_dir`` must be absolute (:func:`with_absolute_data_dir`)."""
    setup_logging(config.logging.level, config.logging.json_lines)
    async with contextlib.AsyncExitStack() as stack:
        dsn = await stack.enter_async_context(database_url(config))
        await migrate(dsn)
        config = config.replace(database={"url": dsn})
        external = _use_external_asterisk(config)
        demo = None
        if not external:
            config, demo = await _local_asterisk(config, dsn, stack)
        runner = await start_site(create_app(config), config)
        stack.push_async_callback(runner.cleanup)
        # The summary is for the person at the terminal, not a log line.
        sys.stdout.write(_summary(config, demo, external) + "\n")
        sys.stdout.flush()
        await wait_for_stop_signal()
        log.info("stopping")
    return 0
