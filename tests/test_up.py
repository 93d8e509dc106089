"""``switchboard up`` as a user runs it: from an empty directory to a healthy stack,
and back to nothing on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from asterisk_conf.instance import allocate_instance_ports, allocate_port_block

REPO = Path(__file__).resolve().parent.parent
SWITCHBOARD = Path(sys.executable).with_name("switchboard")


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


async def _wait_healthy(url: str, process: asyncio.subprocess.Process, deadline_s: float) -> dict:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    last = None
    async with aiohttp.ClientSession() as session:
        while loop.time() < end:
            if process.returncode is not None:
                raise AssertionError(f"switchboard up exited with {process.returncode}")
            try:
                async with session.get(url) as response:
                    last = await response.json()
                    if response.status == 200:
                        return last
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"not healthy within {deadline_s} s; last answer {last}")


@pytest.fixture
def workdir() -> Iterator[Path]:
    """An empty directory outside pytest's owner-only base (PostgreSQL runs as its own
    system user and must reach its data directory)."""
    path = Path(tempfile.mkdtemp(prefix="switchboard-up-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_up_reaches_a_healthy_stack_and_stops_cleanly_on_sigint(workdir: Path) -> None:
    tmp_path = workdir
    ports = allocate_instance_ports()
    http_port = allocate_port_block(2)
    env = {
        **os.environ,
        "SWITCHBOARD_SERVER__PORT": str(http_port),
        "SWITCHBOARD_AGI__PORT": str(http_port + 1),
        "SWITCHBOARD_AMI__PORT": str(ports.ami),
        "SWITCHBOARD_ASTERISK__SIP_PORT": str(ports.sip),
        "SWITCHBOARD_ASTERISK__HTTP_PORT": str(ports.http),
        "SWITCHBOARD_ASTERISK__RTP_START": str(ports.rtp_start),
        "SWITCHBOARD_ASTERISK__RTP_END": str(ports.rtp_end),
    }
    env.pop("DATABASE_URL", None)
    process = await asyncio.create_subprocess_exec(
        str(SWITCHBOARD),
        "up",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        health = await _wait_healthy(f"http://127.0.0.1:{http_port}/healthz", process, 300)
        assert health["checks"] == {
            "database": {"up": True},
            "ami": {"up": True},
            "agi": {"up": True},
        }
        assert _processes_mentioning(str(tmp_path)), "Asterisk and PostgreSQL run from tmp"
        process.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    summary = stdout.decode()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert f"http://127.0.0.1:{http_port}/" in summary
    assert f"127.0.0.1:{ports.sip}" in summary
    assert f"127.0.0.1:{ports.ami}" in summary
    assert "admin login: admin / " in summary
    assert "SIP account 1001 / " in summary and "SIP account 1002 / " in summary
    assert (tmp_path / "data" / "postgres").is_dir()
    assert (tmp_path / "data" / "asterisk" / "etc" / "pjsip_accounts.conf").is_file()
    assert _processes_mentioning(str(tmp_path)) == []
    mounts = Path("/proc/mounts").read_text()
    assert str(tmp_path) not in mounts
    assert "asterisk-sid" not in mounts
