"""``GET /api/v1/agents`` scoped by the one rule (crm_connectors.access): a supervisor
lists the agents of the departments they supervise, an admin every agent."""

from __future__ import annotations

from pathlib import Path

from routing.keys import ROUTING
from routing.models import AgentProfile
from routing.settings import DepartmentSettings
from server.keys import PHONES, POOL
from tests.app_helpers import create_user, login, make_config, start_client


async def test_a_supervisor_lists_the_agents_of_their_departments_an_admin_all(
    db_dsn: str, tmp_path: Path
) -> None:
    people = {
        name: (await create_user(db_dsn, name, role)).id
        for name, role in [
            ("olga", "operator"),
            ("oleg", "operator"),
            ("nadia", "operator"),
            ("sveta", "supervisor"),
            ("sue", "supervisor"),
            ("ada", "admin"),
        ]
    }
    client = await start_client(make_config(db_dsn, tmp_path))
    try:
        app = client.server.app
        routing = app[ROUTING]
        async with app[POOL].acquire() as conn:
            departments = {
                name: (
                    await routing.admin.create_department(
                        conn, name, DepartmentSettings(), supervisor_ids=[people[supervisor]]
                    )
                ).department.id
                for name, supervisor in (("sales", "sveta"), ("support", "sue"))
            }
        # Nadia works in no department yet.
        for name, department in (("olga", "sales"), ("oleg", "support"), ("nadia", None)):
            await app[PHONES].set_agent(people[name], f"{name}.desk", f"secret-{name}-x")
            if department is not None:
                async with app[POOL].acquire() as conn:
                    await routing.admin.set_agent_profile(
                        conn,
                        people[name],
                        AgentProfile(departments=frozenset({departments[department]})),
                    )

        async def listed(username: str) -> set[str]:
            await login(client, username)
            response = await client.get("/api/v1/agents")
            assert response.status == 200
            return {a["username"] for a in await response.json()}

        assert await listed("sveta") == {"olga"}
        assert await listed("sue") == {"oleg"}
        assert await listed("ada") == {"olga", "oleg", "nadia"}
        await login(client, "olga")
        assert (await client.get("/api/v1/agents")).status == 403
    finally:
        await client.close()
