"""Reading the queue: where an interaction stands, and the queue as a supervisor sees it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from . import repository
from .config import RoutingConfig
from .directory import DepartmentDirectory
from .errors import InteractionNotFound
from .estimates import estimated_wait_s, slots
from .models import QueuePosition


@dataclass(frozen=True, slots=True)
class ChannelQueue:
    department_id: int
    channel: str
    waiting: int
    longest_wait_s: float
    in_service: int


@dataclass(frozen=True, slots=True)
class AgentLoad:
    agent_id: int
    username: str
    display_name: str
    status: str
    pause_reason: str | None
    status_changed_at: datetime
    capacity: int
    load: int
    departments: tuple[int, ...]
    offered: int
    handling: int


@dataclass(frozen=True, slots=True)
class QueueBoard:
    queues: list[ChannelQueue]
    agents: list[AgentLoad]


class QueueOverview:
    def __init__(
        self,
        directory: DepartmentDirectory,
        config: RoutingConfig,
        clock: Callable[[], datetime],
    ) -> None:
        self._directory = directory
        self._config = config
        self._clock = clock

    async def position_and_wait(
        self, conn: asyncpg.Connection, interaction_id: int
    ) -> QueuePosition:
        row = await repository.position(conn, interaction_id)
        if row is None:
            raise InteractionNotFound(interaction_id)
        if row["ahead"] is None:
            return QueuePosition(interaction_id, row["state"], None, None)
        position = row["ahead"] + 1
        department = await self._directory.get(conn, row["department_id"])
        handle_time = await repository.recent_handle_time_s(
            conn, row["department_id"], row["channel"], self._config.handle_time_sample
        )
        staffed = await repository.staffed_agents(conn, row["department_id"])
        capacity = slots(
            row["channel"],
            [(a["capacity"], repository.mapping_from_json(a["channel_costs"])) for a in staffed],
            department.settings.channel_costs,
        )
        wait = estimated_wait_s(
            position, handle_time or self._config.default_handle_time_s, capacity
        )
        return QueuePosition(interaction_id, row["state"], position, wait)

    async def board(self, conn: asyncpg.Connection, department_ids: Sequence[int]) -> QueueBoard:
        now = self._clock()
        queues = [
            ChannelQueue(
                department_id=r["department_id"],
                channel=r["channel"],
                waiting=r["waiting"],
                longest_wait_s=(
                    max(0.0, (now - r["oldest"]).total_seconds()) if r["oldest"] else 0.0
                ),
                in_service=r["in_service"],
            )
            for r in await repository.queue_counts(conn, department_ids)
        ]
        agents = [
            AgentLoad(
                agent_id=r["user_id"],
                username=r["username"],
                display_name=r["display_name"],
                status=r["status"],
                pause_reason=r["pause_reason"],
                status_changed_at=r["status_changed_at"],
                capacity=r["capacity"],
                load=r["load"],
                departments=tuple(r["departments"]),
                offered=r["offered"],
                handling=r["handling"],
            )
            for r in await repository.agent_board(conn, department_ids)
        ]
        return QueueBoard(queues, agents)
