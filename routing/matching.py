"""Matching: which waiting interaction goes to which agent with room. Pure, no I/O.

Interactions are taken in queue order (rank time, see routing.priority); each goes to the
agent its department's strategy prefers among those eligible — a member of the
department, with every required skill at the level asked, with room for its cost, and,
while the interaction is sticky, only its preferred agent. So an agent who serves
several departments gets the highest-ranked eligible interaction across all of them,
and an interaction gets the agent its strategy picks. Agents who declined or missed an
interaction are asked again only when nobody else can take it.

Within one batch room only shrinks, so an interaction that found no agent tells that
every later one with the same department, channel and skills will not find one either.
"""

from __future__ import annotations

import random
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .capacity import cost_of, room
from .models import CHANNELS, Channel, Mode
from .settings import DepartmentSettings


@dataclass(frozen=True, slots=True)
class FreeAgent:
    """An available agent with some room, as the router sees it at the start of a batch."""

    agent_id: int
    capacity: int
    load: int
    departments: frozenset[int]
    skills: Mapping[str, int] = field(default_factory=dict)
    costs: Mapping[str, int] = field(default_factory=dict)
    idle_since: datetime | None = None
    last_offer_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WaitingInteraction:
    interaction_id: int
    department_id: int
    channel: Channel
    rank_at: datetime
    skills: Mapping[str, int] = field(default_factory=dict)
    preferred_agent_id: int | None = None
    sticky_until: datetime | None = None
    declined_by: frozenset[int] = frozenset()
    # The row version read; the assignment is dropped if the row changed since.
    version: int = 1


@dataclass(frozen=True, slots=True)
class Assignment:
    interaction_id: int
    agent_id: int
    cost: int
    mode: Mode
    version: int


def is_sticky(item: WaitingInteraction, now: datetime) -> bool:
    return (
        item.preferred_agent_id is not None
        and item.sticky_until is not None
        and item.sticky_until > now
    )


def has_skills(agent_skills: Mapping[str, int], required: Mapping[str, int]) -> bool:
    return all(agent_skills.get(skill, 0) >= level for skill, level in required.items())


class _CostTables:
    """What each channel costs, per department and set of agent overrides: most agents
    share a few sets, so each table is computed once per batch, not once per agent."""

    def __init__(self, departments: Mapping[int, DepartmentSettings]) -> None:
        self._departments = departments
        self._tables: dict[tuple[int, tuple[tuple[str, int], ...]], tuple[dict[str, int], int]] = {}

    def get(
        self, department_id: int, overrides_key: tuple[tuple[str, int], ...]
    ) -> tuple[dict[str, int], int]:
        """(cost by channel, cheapest cost) in the department for these overrides."""
        key = (department_id, overrides_key)
        table = self._tables.get(key)
        if table is None:
            department_costs = self._departments[department_id].channel_costs
            overrides = dict(overrides_key)
            costs = {c: cost_of(c, department_costs, overrides) for c in CHANNELS}
            table = (costs, min(costs.values()))
            self._tables[key] = table
        return table


def _overrides_key(costs: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(costs.items())) if costs else ()


class _Agent:
    __slots__ = (
        "capacity",
        "costs",
        "departments",
        "entries",
        "id",
        "idle_ts",
        "last_ts",
        "load",
        "overrides",
        "room",
        "skills",
    )

    def __init__(self, agent: FreeAgent) -> None:
        self.id = agent.agent_id
        self.capacity = agent.capacity
        self.load = agent.load
        # Kept up to date rather than computed: it is asked for very often.
        self.room = room(agent.capacity, agent.load)
        self.departments = agent.departments
        self.skills = agent.skills
        self.overrides = _overrides_key(agent.costs)
        self.idle_ts = agent.idle_since.timestamp() if agent.idle_since else 0.0
        self.last_ts = agent.last_offer_at.timestamp() if agent.last_offer_at else 0.0
        # (cost by channel, cheapest cost) in each department whose orders were built.
        self.costs: dict[int, tuple[dict[str, int], int]] = {}
        # Its entry in each department's orders, while it has room for something there.
        self.entries: dict[int, _Entry] = {}


# (strategy key, agent id, agent): ids are unique, so the agent itself is never compared.
_Entry = tuple[tuple[float, ...], int, _Agent]
_Signature = tuple[int, str, tuple[tuple[str, int], ...]]  # department, channel, skills


class _Orders:
    """A department's agents in the order of its strategy: all who have room for
    something there, and per channel those who have room for that channel. Sorted
    lists, kept exact: an agent's room and key change only when it takes an
    interaction, and then its entries are replaced."""

    __slots__ = ("by_channel", "by_costs", "department_id", "everyone", "tables")

    def __init__(
        self, department_id: int, everyone: list[_Entry], tables: list[dict[str, int]]
    ) -> None:
        self.department_id = department_id
        self.everyone = everyone
        # The members' cost tables, one per set of overrides.
        self.tables = tables
        self.by_channel: dict[Channel, list[_Entry]] = {}
        # Channels that cost every member alike (the chats, mostly) fit the same agents,
        # always: they share one order, which a take then updates once. Each with one
        # of its channels, to tell what it costs an agent.
        self.by_costs: dict[tuple[int, ...], tuple[Channel, list[_Entry]]] = {}

    def channel(self, channel: Channel) -> list[_Entry]:
        order = self.by_channel.get(channel)
        if order is None:
            department_id = self.department_id
            costs = tuple(table[channel] for table in self.tables)
            shared = self.by_costs.get(costs)
            if shared is None:
                order = [
                    e for e in self.everyone if e[2].costs[department_id][0][channel] <= e[2].room
                ]
                self.by_costs[costs] = (channel, order)
            else:
                order = shared[1]
            self.by_channel[channel] = order
        return order

    def replace(self, agent: _Agent, before: int, new: _Entry | None) -> None:
        """The agent's entry replaced by ``new`` (None: it has no room left here). The old
        one is in the orders of the channels its room ``before`` fitted."""
        old = agent.entries.pop(self.department_id, None)
        if new is not None:
            agent.entries[self.department_id] = new
        _replace_in(self.everyone, old, new)
        costs = agent.costs[self.department_id][0]
        for channel, order in self.by_costs.values():
            cost = costs[channel]
            _replace_in(
                order,
                old if cost <= before else None,
                new if cost <= agent.room else None,
            )


def _replace_in(order: list[_Entry], old: _Entry | None, new: _Entry | None) -> None:
    if old is not None:
        # (key, agent id) is unique in an order, so bisect finds the very entry.
        i = bisect_left(order, old)
        if i < len(order) and order[i] is old:
            del order[i]
    if new is not None:
        insort(order, new)


class _Pool:
    """The agents of one batch, in each department's orders.

    The strategy's choice for an interaction is the first agent in its channel's order
    who has the skills asked: the many agents with no room for the channel are not
    looked at, let alone once per kind of interaction (department, channel, skills)."""

    def __init__(
        self,
        agents: Iterable[FreeAgent],
        departments: Mapping[int, DepartmentSettings],
        now: datetime,
        rng: random.Random,
    ) -> None:
        self._departments = departments
        self._costs = _CostTables(departments)
        self._agents = {a.agent_id: _Agent(a) for a in agents}
        # Each department's agents, for its orders.
        self._members: dict[int, list[_Agent]] = {}
        for agent in self._agents.values():
            for department_id in agent.departments:
                self._members.setdefault(department_id, []).append(agent)
        self._now_ts = now.timestamp()
        self._rng = rng
        # Built at the department's first interaction that is not sticky, and not
        # before: the keys of least_loaded and random draw from rng, so when and for
        # whom they are drawn is part of the result.
        self._orders: dict[int, _Orders] = {}
        self._taken = 0

    def agent(self, agent_id: int) -> _Agent | None:
        return self._agents.get(agent_id)

    def cost(self, agent: _Agent, department_id: int, channel: Channel) -> int:
        return self._costs.get(department_id, agent.overrides)[0][channel]

    def eligible(self, agent: _Agent, item: WaitingInteraction) -> bool:
        return (
            item.department_id in agent.departments
            and self.cost(agent, item.department_id, item.channel) <= agent.room
            and (not item.skills or has_skills(agent.skills, item.skills))
        )

    def best(self, item: WaitingInteraction) -> _Agent | None:
        """The strategy's first eligible agent; one who declined it only if nobody else."""
        required = item.skills
        declined = item.declined_by
        fallback = None
        for _, agent_id, agent in self._channel_order(item):
            if required and not has_skills(agent.skills, required):
                continue
            if agent_id not in declined:
                return agent
            if fallback is None:
                fallback = agent
        return fallback

    def all_eligible(self, item: WaitingInteraction) -> list[_Agent]:
        """Every eligible agent (ring groups); those who declined it only if nobody else."""
        required = item.skills
        eligible = [
            agent
            for _, _, agent in self._channel_order(item)
            if not required or has_skills(agent.skills, required)
        ]
        fresh = [a for a in eligible if a.id not in item.declined_by]
        return fresh or eligible

    def reachable(self) -> tuple[set[int], set[Channel]]:
        return _reach(
            ((a.room, a.overrides, a.departments) for a in self._agents.values()),
            self._departments,
            self._costs,
        )

    def take(self, agent: _Agent, cost: int) -> None:
        before = agent.room
        agent.load += cost
        agent.room = room(agent.capacity, agent.load)
        self._taken += 1
        # Offered now, and later than every offer before it in this batch.
        agent.last_ts = self._now_ts + self._taken * 1e-6
        for department_id in agent.departments:
            orders = self._orders.get(department_id)
            if orders is not None:
                has_room = agent.room >= agent.costs[department_id][1]
                new = self._entry(agent, department_id) if has_room else None
                orders.replace(agent, before, new)

    def _channel_order(self, item: WaitingInteraction) -> list[_Entry]:
        orders = self._orders.get(item.department_id)
        if orders is None:
            orders = self._orders[item.department_id] = self._build(item.department_id)
        return orders.channel(item.channel)

    def _build(self, department_id: int) -> _Orders:
        everyone = []
        tables: dict[tuple[tuple[str, int], ...], tuple[dict[str, int], int]] = {}
        for agent in self._members.get(department_id, ()):
            table = tables.get(agent.overrides)
            if table is None:
                table = tables[agent.overrides] = self._costs.get(department_id, agent.overrides)
            agent.costs[department_id] = table
            if agent.room >= table[1]:
                entry = agent.entries[department_id] = self._entry(agent, department_id)
                everyone.append(entry)
        everyone.sort()
        return _Orders(department_id, everyone, [costs for costs, _ in tables.values()])

    def _entry(self, agent: _Agent, department_id: int) -> _Entry:
        strategy = self._departments[department_id].strategy
        if strategy == "least_loaded":
            share = agent.load / agent.capacity if agent.capacity else 1.0
            key: tuple[float, ...] = (share, self._rng.random())
        elif strategy == "longest_idle":
            # Idle agents first, longest idle first; then busy ones, least recently offered.
            key = (0.0, agent.idle_ts) if agent.load == 0 else (1.0, agent.last_ts)
        elif strategy == "round_robin":
            key = (agent.last_ts, float(agent.id))
        else:
            key = (self._rng.random(),)
        return (key, agent.id, agent)


class Matcher:
    """Matches pages of waiting interactions, in queue order, against one set of agents."""

    def __init__(
        self,
        agents: Iterable[FreeAgent],
        departments: Mapping[int, DepartmentSettings],
        now: datetime,
        rng: random.Random | None = None,
    ) -> None:
        self._pool = _Pool(agents, departments, now, rng or random.Random())
        self._departments = departments
        self._now = now
        self._hopeless: set[_Signature] = set()

    def reachable(self) -> tuple[set[int], set[Channel]]:
        """The departments and channels some agent has room for now, after what was
        matched so far: what is worth reading further back in the queue."""
        return self._pool.reachable()

    def match(self, waiting: Iterable[WaitingInteraction]) -> list[Assignment]:
        assignments: list[Assignment] = []
        for item in waiting:
            settings = self._departments.get(item.department_id)
            if settings is None:
                continue
            for agent in self._choose(item, settings):
                cost = self._pool.cost(agent, item.department_id, item.channel)
                self._pool.take(agent, cost)
                assignments.append(
                    Assignment(item.interaction_id, agent.id, cost, settings.mode, item.version)
                )
        return assignments

    def _choose(self, item: WaitingInteraction, settings: DepartmentSettings) -> list[_Agent]:
        if is_sticky(item, self._now):
            assert item.preferred_agent_id is not None
            preferred = self._pool.agent(item.preferred_agent_id)
            if preferred is not None and self._pool.eligible(preferred, item):
                return [preferred]
            return []
        signature = (item.department_id, item.channel, tuple(sorted(item.skills.items())))
        if signature in self._hopeless:
            return []
        if settings.mode == "ring_group":
            chosen = self._pool.all_eligible(item)
        else:
            best = self._pool.best(item)
            chosen = [best] if best is not None else []
        if not chosen:
            self._hopeless.add(signature)
        return chosen


def match(
    waiting: Sequence[WaitingInteraction],
    agents: Iterable[FreeAgent],
    departments: Mapping[int, DepartmentSettings],
    now: datetime,
    rng: random.Random | None = None,
) -> list[Assignment]:
    """Assignments for ``waiting`` (in queue order) among ``agents``; never over capacity."""
    return Matcher(agents, departments, now, rng).match(waiting)


def reachable(
    agents: Iterable[FreeAgent], departments: Mapping[int, DepartmentSettings]
) -> tuple[set[int], set[Channel]]:
    """The departments and channels some agent has room for: what is worth reading."""
    return _reach(
        ((room(a.capacity, a.load), _overrides_key(a.costs), a.departments) for a in agents),
        departments,
        _CostTables(departments),
    )


def _reach(
    rooms: Iterable[tuple[int, tuple[tuple[str, int], ...], frozenset[int]]],
    departments: Mapping[int, DepartmentSettings],
    tables: _CostTables,
) -> tuple[set[int], set[Channel]]:
    """(room, cost overrides, departments) of each agent → reachable departments, channels."""
    # The most room per department and set of cost overrides, then the channels it fits.
    most: dict[tuple[int, tuple[tuple[str, int], ...]], int] = {}
    for free, overrides, agent_departments in rooms:
        for department_id in agent_departments:
            if department_id in departments:
                key = (department_id, overrides)
                if free > most.get(key, 0):
                    most[key] = free
    department_ids: set[int] = set()
    channels: set[Channel] = set()
    for (department_id, overrides), free in most.items():
        costs, cheapest = tables.get(department_id, overrides)
        if free >= cheapest:
            department_ids.add(department_id)
            channels.update(c for c in CHANNELS if costs[c] <= free)
    return department_ids, channels
