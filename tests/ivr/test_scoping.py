"""The voicemail API scoped by the one rule (crm_connectors.access): a supervisor lists
and plays the messages of the departments they supervise, an admin all; a message of
another department (or of none) answers 404 like a missing one."""

from __future__ import annotations

import wave
from datetime import UTC, datetime
from pathlib import Path

from routing.keys import ROUTING
from routing.settings import DepartmentSettings
from server.keys import POOL
from tests.app_helpers import create_user, login, make_config, start_client


def silence(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 800)
    return path


async def test_a_supervisor_lists_and_plays_the_voicemail_of_their_departments_only(
    db_dsn: str, tmp_path: Path
) -> None:
    people = {
        name: (await create_user(db_dsn, name, role)).id
        for name, role in [("sveta", "supervisor"), ("sue", "supervisor"), ("ada", "admin")]
    }
    client = await start_client(make_config(db_dsn, tmp_path / "data"))
    try:
        app = client.server.app
        async with app[POOL].acquire() as conn:
            sales, support = [
                (
                    await app[ROUTING].admin.create_department(
                        conn, name, DepartmentSettings(), supervisor_ids=[people[supervisor]]
                    )
                ).department.id
                for name, supervisor in (("sales", "sveta"), ("support", "sue"))
            ]
            messages = {}
            for name, department in (("sales", sales), ("support", support), ("none", None)):
                messages[name] = await conn.fetchval(
                    """INSERT INTO voicemails (call_id, number, caller_number, department_id,
                           path, duration_s, recorded_at)
                       VALUES ($1, '500', '79161234567', $2, $3, 0.1, $4) RETURNING id""",
                    f"1700000900.{name}",
                    department,
                    str(silence(tmp_path / f"{name}.wav")),
                    datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
                )

        async def seen(username: str) -> set[int]:
            await login(client, username)
            listed = await client.get("/api/v1/ivr/voicemails")
            assert listed.status == 200
            ids = {v["id"] for v in (await listed.json())["voicemails"]}
            for message_id in messages.values():
                audio = await client.get(f"/api/v1/ivr/voicemails/{message_id}/audio")
                assert audio.status == (200 if message_id in ids else 404), (username, message_id)
            return ids

        assert await seen("sveta") == {messages["sales"]}
        assert await seen("sue") == {messages["support"]}
        assert await seen("ada") == set(messages.values())
    finally:
        await client.close()


async def test_a_supervisors_list_is_not_crowded_out_by_other_departments(
    db_dsn: str, tmp_path: Path
) -> None:
    """The list is the newest 100 of the supervisor's departments, not their share of
    everyone's newest 100."""
    vera = (await create_user(db_dsn, "vera", "supervisor")).id
    client = await start_client(make_config(db_dsn, tmp_path / "data"))
    try:
        app = client.server.app
        async with app[POOL].acquire() as conn:
            sales = (
                await app[ROUTING].admin.create_department(
                    conn, "sales-2", DepartmentSettings(), supervisor_ids=[vera]
                )
            ).department.id
            support = (
                await app[ROUTING].admin.create_department(conn, "support-2", DepartmentSettings())
            ).department.id
            audio = str(silence(tmp_path / "m.wav"))
            old = await conn.fetchval(
                """INSERT INTO voicemails (call_id, number, caller_number, department_id,
                       path, duration_s, recorded_at)
                   VALUES ('1700000900.old', '500', '79161234567', $1, $2, 0.1, $3)
                   RETURNING id""",
                sales,
                audio,
                datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
            )
            await conn.executemany(
                """INSERT INTO voicemails (call_id, number, caller_number, department_id,
                       path, duration_s, recorded_at)
                   VALUES ($1, '500', '79161234567', $2, $3, 0.1, $4)""",
                [
                    (
                        f"1700001000.{i}",
                        support,
                        audio,
                        datetime(2026, 1, 6, 12, i % 60, tzinfo=UTC),
                    )
                    for i in range(120)
                ],
            )
        await login(client, "vera")
        listed = await client.get("/api/v1/ivr/voicemails")
        assert listed.status == 200
        assert [v["id"] for v in (await listed.json())["voicemails"]] == [old]
    finally:
        await client.close()
