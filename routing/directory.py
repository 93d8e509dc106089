"""Per-process caches of what the router reads on every batch: department settings and
agents' profiles. The database is the truth; the caches are checked against versions
(profiles on every batch, departments on change events and at every sweep)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from . import repository
from .errors import DepartmentNotFound
from .matching import FreeAgent
from .settings import DepartmentSettings


@dataclass(frozen=True, slots=True)
class Department:
    id: int
    name: str
    version: int
    settings: DepartmentSettings


def department_from_row(row: asyncpg.Record) -> Department:
    return Department(
        id=row["id"],
        name=row["name"],
        version=row["version"],
        settings=DepartmentSettings.model_validate_json(row["settings"]),
    )


class DepartmentDirectory:
    def __init__(self) -> None:
        self._departments: dict[int, Department] = {}
        self._stale = True

    def invalidate(self) -> None:
        self._stale = True

    async def all(self, conn: asyncpg.Connection) -> Mapping[int, Department]:
        if self._stale:
            rows = await repository.list_departments(conn)
            self._departments = {r["id"]: department_from_row(r) for r in rows}
            self._stale = False
        return self._departments

    async def get(self, conn: asyncpg.Connection, department_id: int) -> Department:
        department = (await self.all(conn)).get(department_id)
        if department is None:
            # Created by another process a moment ago, perhaps.
            self.invalidate()
            department = (await self.all(conn)).get(department_id)
        if department is None:
            raise DepartmentNotFound(department_id)
        return department


@dataclass(frozen=True, slots=True)
class _Profile:
    version: int
    departments: frozenset[int]
    skills: Mapping[str, int]
    costs: Mapping[str, int]


class AgentProfiles:
    """Departments, skills and cost overrides of agents, by profile version; and the
    last FreeAgent built for each agent, reused while its row has not changed (most
    free agents have not changed since the previous batch)."""

    def __init__(self) -> None:
        self._profiles: dict[int, _Profile] = {}
        self._agents: dict[int, tuple[tuple[object, ...], FreeAgent]] = {}

    async def free_agents(
        self, conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]
    ) -> list[FreeAgent]:
        """Agent rows of repository.start_batch (id, capacity, load, idle_since,
        last_offer_at, profile_version), completed with their profiles."""
        stale = [
            r["id"]
            for r in rows
            if (p := self._profiles.get(r["id"])) is None or p.version != r["profile_version"]
        ]
        if stale:
            for row in await repository.agent_profiles(conn, stale):
                self._profiles[row["user_id"]] = _Profile(
                    version=row["profile_version"],
                    departments=frozenset(row["departments"]),
                    skills=json.loads(row["skills"]),
                    costs=json.loads(row["channel_costs"]),
                )
        agents = []
        for r in rows:
            agent_id = r["id"]
            profile = self._profiles.get(agent_id)
            if profile is None:
                continue
            key = (
                r["capacity"],
                r["load"],
                r["idle_since"],
                r["last_offer_at"],
                r["profile_version"],
            )
            cached = self._agents.get(agent_id)
            if cached is not None and cached[0] == key:
                agents.append(cached[1])
                continue
            agent = FreeAgent(
                agent_id=agent_id,
                capacity=r["capacity"],
                load=r["load"],
                departments=profile.departments,
                skills=profile.skills,
                costs=profile.costs,
                idle_since=r["idle_since"],
                last_offer_at=r["last_offer_at"],
            )
            self._agents[agent_id] = (key, agent)
            agents.append(agent)
        return agents
