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

import heapq
import random
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
        "departments",
        "id",
        "idle_ts",
        "last_ts",
        "load",
        "overrides",
        "skills",
        "stamp",
    )

    def __init__(self, agent: FreeAgent) -> None:
        self.id = agent.agent_id
        self.capacity = agent.capacity
        self.load = agent.load
        self.departments = agent.departments
        self.skills = agent.skills
        self.overrides = _overrides_key(agent.costs)
        self.idle_ts = agent.idle_since.timestamp() if agent.idle_since else 0.0
        self.last_ts = agent.last_offer_at.timestamp() if agent.last_offer_at else 0.0
        # Bumped on every assignment; heap entries with an older stamp are stale.
        self.stamp = 0

    @property
    def room(self) -> int:
        # routing.capacity.room, inline: it is asked for very often.
        free = self.capacity - self.load
        return free if free > 0 else 0


_Entry = tuple[tuple[float, ...], int, int]  # (strategy key, agent id, stamp)
_Signature = tuple[int, str, tuple[tuple[str, int], ...]]  # department, channel, skills


class _Pool:
    """The agents of one batch, with one priority heap per department by its strategy."""

    def __init__(
        self,
        agents: Iterable[FreeAgent],
        departments: Mapping[int, DepartmentSettings],
        now: datetime,
        rng: random.Random,
    ) -> None:
        self._agents = {a.agent_id: _Agent(a) for a in agents}
        # Each department's agents, for its heap.
        self._members: dict[int, list[_Agent]] = {}
        for agent in self._agents.values():
            for department_id in agent.departments:
                self._members.setdefault(department_id, []).append(agent)
        self._departments = departments
        self._costs = _CostTables(departments)
        self._now_ts = now.timestamp()
        self._rng = rng
        self._heaps: dict[int, list[_Entry]] = {}
        # Per kind of interaction, and the kinds' heaps of each department with the
        # channel and skills they are for.
        self._kind_heaps: dict[_Signature, list[_Entry]] = {}
        self._kinds_of: dict[int, list[tuple[Channel, Mapping[str, int], list[_Entry]]]] = {}
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

    def best(self, item: WaitingInteraction, signature: _Signature) -> _Agent | None:
        """The strategy's first eligible agent; one who declined it only if nobody else.

        Each kind of interaction (department, channel, skills) has a heap of its own, a
        copy of its department's taken at its first turn. An agent found unable to take
        one leaves that heap for good: within a batch skills stay and room only shrinks,
        so nobody is looked at twice in vain for the same kind."""
        heap = self._kind_heaps.get(signature)
        if heap is None:
            heap = list(self._heap(item.department_id))
            self._kind_heaps[signature] = heap
            self._kinds_of.setdefault(item.department_id, []).append(
                (item.channel, item.skills, heap)
            )
        kept: list[_Entry] = []
        chosen = fallback = None
        while heap:
            entry = heapq.heappop(heap)
            agent = self._agents[entry[1]]
            if entry[2] != agent.stamp or not self.eligible(agent, item):
                continue
            kept.append(entry)
            if agent.id in item.declined_by:
                fallback = fallback or agent
                continue
            chosen = agent
            break
        for entry in kept:
            heapq.heappush(heap, entry)
        return chosen or fallback

    def all_eligible(self, item: WaitingInteraction) -> list[_Agent]:
        """Every eligible agent (ring groups); those who declined it only if nobody else."""
        heap = self._heap(item.department_id)
        live = [e for e in heap if self._live(e, item.department_id) is not None]
        heapq.heapify(live)
        self._heaps[item.department_id] = live
        agents = [self._agents[e[1]] for e in sorted(live)]
        eligible = [a for a in agents if self.eligible(a, item)]
        fresh = [a for a in eligible if a.id not in item.declined_by]
        return fresh or eligible

    def reachable(self) -> tuple[set[int], set[Channel]]:
        return _reach(
            ((a.room, a.overrides, a.departments) for a in self._agents.values()),
            self._departments,
            self._costs,
        )

    def take(self, agent: _Agent, cost: int) -> None:
        agent.load += cost
        agent.stamp += 1
        self._taken += 1
        # Offered now, and later than every offer before it in this batch.
        agent.last_ts = self._now_ts + self._taken * 1e-6
        for department_id in agent.departments:
            heap = self._heaps.get(department_id)
            if heap is None or not self._has_room_in(agent, department_id):
                continue
            entry = self._entry(agent, department_id)
            heapq.heappush(heap, entry)
            for channel, skills, kind_heap in self._kinds_of.get(department_id, ()):
                if self.cost(agent, department_id, channel) <= agent.room and (
                    not skills or has_skills(agent.skills, skills)
                ):
                    heapq.heappush(kind_heap, entry)

    def _heap(self, department_id: int) -> list[_Entry]:
        heap = self._heaps.get(department_id)
        if heap is None:
            cheapest = self._costs.get
            heap = [
                self._entry(a, department_id)
                for a in self._members.get(department_id, ())
                if a.room >= cheapest(department_id, a.overrides)[1]
            ]
            heapq.heapify(heap)
            self._heaps[department_id] = heap
        return heap

    def _live(self, entry: _Entry, department_id: int) -> _Agent | None:
        """The entry's agent if the entry is current and the agent can still take anything."""
        agent = self._agents[entry[1]]
        if entry[2] != agent.stamp or not self._has_room_in(agent, department_id):
            return None
        return agent

    def _has_room_in(self, agent: _Agent, department_id: int) -> bool:
        return agent.room >= self._costs.get(department_id, agent.overrides)[1]

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
        return (key, agent.id, agent.stamp)


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
        self._hopeless: set[tuple[int, str, tuple[tuple[str, int], ...]]] = set()

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
            best = self._pool.best(item, signature)
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
