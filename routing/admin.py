"""Routing configuration editable at run time: departments and agents' profiles."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from . import repository
from .capacity import DEFAULT_CAPACITY
from .directory import Department, DepartmentDirectory, department_from_row
from .errors import AgentNotFound, DepartmentNameTaken, DepartmentNotFound, UnknownReferences
from .events import AgentProfileChanged, DepartmentSettingsChanged
from .models import CHANNELS, AgentProfile
from .outbox import EventOutbox
from .ranking import rerank_waiting
from .settings import MAX_COST, DepartmentSettings, merged_settings


@dataclass(frozen=True, slots=True)
class DepartmentView:
    department: Department
    supervisor_ids: tuple[int, ...]


def validate_profile(profile: AgentProfile) -> None:
    if not 0 <= profile.capacity <= 100 * DEFAULT_CAPACITY:
        raise ValueError(f"capacity must be between 0 and {100 * DEFAULT_CAPACITY}")
    for channel, cost in profile.channel_costs.items():
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
        if not 1 <= cost <= MAX_COST:
            raise ValueError(f"cost of {channel} must be between 1 and {MAX_COST}")
    if profile.wrapup_s is not None and not 0 <= profile.wrapup_s <= 3600:
        raise ValueError("wrapup_s must be between 0 and 3600")
    for skill, level in profile.skills.items():
        if not 1 <= level <= 10:
            raise ValueError(f"level of {skill} must be between 1 and 10")


class RoutingAdmin:
    def __init__(
        self, outbox: EventOutbox, directory: DepartmentDirectory, clock: Callable[[], datetime]
    ) -> None:
        self._outbox = outbox
        self._directory = directory
        self._clock = clock

    # --- departments -------------------------------------------------------------------

    async def create_department(
        self,
        conn: asyncpg.Connection,
        name: str,
        settings: DepartmentSettings | None = None,
        supervisor_ids: Sequence[int] = (),
    ) -> DepartmentView:
        settings = settings or DepartmentSettings()
        async with self._outbox.unit(conn) as events:
            await self._check_supervisors(conn, supervisor_ids)
            try:
                async with conn.transaction():
                    row = await repository.insert_department(
                        conn, name, settings.model_dump(mode="json")
                    )
            except asyncpg.UniqueViolationError:
                raise DepartmentNameTaken(name) from None
            department = department_from_row(row)
            await self._check_overflow(conn, department.id, settings)
            await repository.set_department_supervisors(conn, department.id, supervisor_ids)
            events.append(
                DepartmentSettingsChanged(department.id, department.version, self._clock())
            )
        self._directory.invalidate()
        return DepartmentView(department, tuple(sorted(set(supervisor_ids))))

    async def update_department(
        self,
        conn: asyncpg.Connection,
        department_id: int,
        *,
        name: str | None = None,
        changes: Mapping[str, Any] | None = None,
        supervisor_ids: Sequence[int] | None = None,
    ) -> DepartmentView:
        """Rename, change some settings (validated as a whole: raises pydantic's
        ValidationError naming the field), or replace the supervisors. Waiting
        interactions are re-ranked under the new settings at once."""
        async with self._outbox.unit(conn) as events:
            row = await repository.lock_department(conn, department_id)
            if row is None:
                raise DepartmentNotFound(department_id)
            current = department_from_row(row)
            settings = merged_settings(current.settings, changes or {})
            await self._check_overflow(conn, department_id, settings)
            try:
                async with conn.transaction():
                    row = await repository.update_department(
                        conn, department_id, name or current.name, settings.model_dump(mode="json")
                    )
            except asyncpg.UniqueViolationError:
                raise DepartmentNameTaken(name or current.name) from None
            department = department_from_row(row)
            if supervisor_ids is not None:
                await self._check_supervisors(conn, supervisor_ids)
                await repository.set_department_supervisors(conn, department_id, supervisor_ids)
            await self._rerank(conn, department)
            events.append(
                DepartmentSettingsChanged(department_id, department.version, self._clock())
            )
            supervisors = await repository.department_supervisors(conn, department_id)
        self._directory.invalidate()
        return DepartmentView(department, tuple(supervisors))

    async def get_department(self, conn: asyncpg.Connection, department_id: int) -> DepartmentView:
        row = await repository.get_department(conn, department_id)
        if row is None:
            raise DepartmentNotFound(department_id)
        supervisors = await repository.department_supervisors(conn, department_id)
        return DepartmentView(department_from_row(row), tuple(supervisors))

    async def list_departments(self, conn: asyncpg.Connection) -> list[Department]:
        return [department_from_row(r) for r in await repository.list_departments(conn)]

    async def departments_of_supervisor(self, conn: asyncpg.Connection, user_id: int) -> set[int]:
        return await repository.supervised_departments(conn, user_id)

    async def all_department_ids(self, conn: asyncpg.Connection) -> list[int]:
        return await repository.all_department_ids(conn)

    async def _check_supervisors(self, conn: asyncpg.Connection, user_ids: Sequence[int]) -> None:
        unknown = set(user_ids) - await repository.existing_users(conn, user_ids)
        if unknown:
            raise UnknownReferences(f"no users {sorted(unknown)}")

    async def _check_overflow(
        self, conn: asyncpg.Connection, department_id: int, settings: DepartmentSettings
    ) -> None:
        target = settings.overflow_department()
        if target is None:
            return
        if target == department_id:
            raise UnknownReferences("a department cannot overflow into itself")
        if not await repository.existing_departments(conn, [target]):
            raise UnknownReferences(f"no department {target} to overflow into")

    async def _rerank(self, conn: asyncpg.Connection, department: Department) -> None:
        rows = await repository.waiting_to_rerank(conn, department.id, limit=1_000_000)
        await rerank_waiting(conn, rows, {department.id: department})

    # --- agents' profiles --------------------------------------------------------------

    async def agent_profile(self, conn: asyncpg.Connection, agent_id: int) -> AgentProfile:
        row = await repository.agent_profile(conn, agent_id)
        if row is None:
            raise AgentNotFound(agent_id)
        return _profile_from_row(row)

    async def set_agent_profile(
        self, conn: asyncpg.Connection, agent_id: int, profile: AgentProfile
    ) -> AgentProfile:
        validate_profile(profile)
        async with self._outbox.unit(conn) as events:
            if not await repository.lock_agents(conn, [agent_id]):
                raise AgentNotFound(agent_id)
            unknown = set(profile.departments) - await repository.existing_departments(
                conn, profile.departments
            )
            if unknown:
                raise UnknownReferences(f"no departments {sorted(unknown)}")
            await repository.update_agent_profile(
                conn,
                agent_id,
                profile.capacity,
                profile.channel_costs,
                profile.wrapup_s,
                profile.departments,
                profile.skills,
            )
            row = await repository.agent_profile(conn, agent_id)
            events.append(AgentProfileChanged(agent_id, self._clock()))
        assert row is not None
        return _profile_from_row(row)


def _profile_from_row(row: asyncpg.Record) -> AgentProfile:
    return AgentProfile(
        capacity=row["capacity"],
        channel_costs=repository.mapping_from_json(row["channel_costs"]),
        wrapup_s=row["wrapup_s"],
        departments=frozenset(row["departments"]),
        skills=repository.mapping_from_json(row["skills"]),
    )
