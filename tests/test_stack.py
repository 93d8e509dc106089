"""The server against the real stack: real PostgreSQL, a real Asterisk 22 and a real
baresip softphone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from asterisk_conf.instance import AsteriskInstance
from server.keys import AMI
from tests.app_helpers import create_user, login, make_config, start_client
from tests.harness.asterisk import start_test_asterisk
from tests.harness.softphone import Softphone

DEADLINE_S = 20.0


@pytest.fixture(scope="module")
async def asterisk(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsteriskInstance]:
    instance = await start_test_asterisk(tmp_path_factory.mktemp("asterisk"))
    yield instance
    await instance.stop()


@pytest.fixture(scope="module")
async def client(
    db_dsn: str, asterisk: AsteriskInstance, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TestClient]:
    settings = asterisk.settings
    config = make_config(
        db_dsn,
        tmp_path_factory.mktemp("data"),
        ami={
            "port": settings.ami_port,
            "username": settings.ami_username,
            "secret": settings.ami_secret,
            "ping_interval_s": 0.5,
            "ping_timeout_s": 1.0,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
        },
        asterisk={"mode": "external", "etc_dir": str(asterisk.etc_dir)},
    )
    await create_user(db_dsn, "root", "admin")
    client = await start_client(config)
    yield client
    await client.close()


async def _until(check: Callable[[], object], what: str, deadline_s: float = DEADLINE_S):
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def _health(client: TestClient) -> tuple[int, dict]:
    response = await client.get("/healthz")
    return response.status, await response.json()


async def test_healthz_reports_database_ami_and_agi_up(client: TestClient) -> None:
    async def healthy() -> bool:
        status, _ = await _health(client)
        return status == 200

    await _until(healthy, "a healthy server")
    _, body = await _health(client)
    assert body == {
        "status": "ok",
        "checks": {"database": {"up": True}, "ami": {"up": True}, "agi": {"up": True}},
    }
    metrics = await (await client.get("/metrics")).text()
    assert 'switchboard_dependency_up{dependency="ami"} 1.0' in metrics


async def test_a_new_agent_can_register_at_once_without_an_asterisk_restart(
    client: TestClient, asterisk: AsteriskInstance, tmp_path: Path
) -> None:
    pid_before = asterisk.pid
    csrf = await login(client, "root")
    user = await client.post(
        "/api/v1/users",
        json={"username": "irina", "password": "correct-horse-1", "role": "operator"},
        headers={"X-CSRF-Token": csrf},
    )
    assert user.status == 201
    user_id = (await user.json())["id"]
    made = await client.put(
        f"/api/v1/users/{user_id}/agent",
        json={"sip_endpoint": "2001"},
        headers={"X-CSRF-Token": csrf},
    )
    assert made.status == 200, await made.text()
    secret = (await made.json())["sip_secret"]
    phone = Softphone(tmp_path / "phone", "2001", secret, ("127.0.0.1", asterisk.settings.sip_port))
    try:
        await phone.start(register_timeout_s=DEADLINE_S)
    finally:
        await phone.stop()
    assert asterisk.pid == pid_before
    listed = await (await client.get("/api/v1/agents")).json()
    assert [a["sip_endpoint"] for a in listed if a["user_id"] == user_id] == ["2001"]
    # The secret is shown once, at set-up; never in listings.
    assert secret not in str(listed)
    taken = await client.put(
        "/api/v1/users/1/agent", json={"sip_endpoint": "2001"}, headers={"X-CSRF-Token": csrf}
    )
    assert taken.status == 409


async def test_a_real_call_to_a_softphone_is_seen_answered_and_hung_up_over_ami(
    client: TestClient, asterisk: AsteriskInstance, tmp_path: Path
) -> None:
    csrf = await login(client, "root")
    user = await client.post(
        "/api/v1/users",
        json={"username": "pavel", "password": "correct-horse-1", "role": "operator"},
        headers={"X-CSRF-Token": csrf},
    )
    user_id = (await user.json())["id"]
    made = await client.put(
        f"/api/v1/users/{user_id}/agent",
        json={"sip_endpoint": "2002", "sip_secret": "pavel-phone-secret"},
        headers={"X-CSRF-Token": csrf},
    )
    assert made.status == 200
    ami = client.server.app[AMI]
    events: list = []
    unsubscribe = ami.subscribe(events.append)
    phone = Softphone(
        tmp_path / "phone",
        "2002",
        "pavel-phone-secret",
        ("127.0.0.1", asterisk.settings.sip_port),
        answer_mode="auto",
    )
    await phone.start(register_timeout_s=DEADLINE_S)
    try:
        await ami.originate(
            {
                "Channel": "PJSIP/2002",
                "Application": "Playback",
                "Data": "beep",
                "CallerID": "Switchboard <500>",
                "Timeout": "15000",
            },
            timeout=DEADLINE_S,
        )

        def seen(name: str, **fields: str) -> Callable[[], object]:
            async def check() -> bool:
                return any(
                    e.get("Event") == name
                    and e.get("Channel", "").startswith("PJSIP/2002-")
                    and all(e.get(k) == v for k, v in fields.items())
                    for e in events
                )

            return check

        await _until(seen("Newstate", ChannelStateDesc="Up"), "the softphone answering")
        await _until(seen("Hangup"), "the call hanging up after the playback")
    finally:
        unsubscribe()
        await phone.stop()


async def test_ami_goes_down_when_asterisk_stops_and_comes_back_without_a_server_restart(
    client: TestClient, asterisk: AsteriskInstance
) -> None:
    async def status_is(code: int, ami_up: bool) -> Callable[[], object]:
        async def check() -> bool:
            status, body = await _health(client)
            return status == code and body["checks"]["ami"]["up"] is ami_up

        return check

    await _until(await status_is(200, True), "healthy before the stop")
    await asterisk.stop()
    await _until(await status_is(503, False), "AMI reported down")
    _, body = await _health(client)
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["up"] is True
    await asterisk.start()
    await _until(await status_is(200, True), "AMI back after Asterisk restarted")
