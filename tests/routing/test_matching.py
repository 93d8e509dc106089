"""Matching waiting interactions with agents: capacity, eligibility, priority, strategies."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.capacity import cost_of
from routing.matching import (
    Assignment,
    FreeAgent,
    Matcher,
    WaitingInteraction,
    has_skills,
    is_sticky,
    match,
    reachable,
)
from routing.models import CHANNELS
from routing.priority import rank_time
from routing.settings import DepartmentSettings

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def agent(agent_id: int, departments=(1,), capacity=100, load=0, **kw) -> FreeAgent:
    return FreeAgent(agent_id, capacity, load, frozenset(departments), **kw)


def waiting(interaction_id: int, department=1, channel="webchat", age_s=0.0, **kw):
    return WaitingInteraction(
        interaction_id, department, channel, NOW - timedelta(seconds=age_s), **kw
    )


def chosen(assignments: list[Assignment]) -> list[tuple[int, int]]:
    return [(a.interaction_id, a.agent_id) for a in assignments]


# --- properties over random queues --------------------------------------------------------

skills_st = st.dictionaries(st.sampled_from(["en", "ru", "de"]), st.integers(1, 5), max_size=2)
costs_st = st.dictionaries(st.sampled_from(CHANNELS), st.integers(5, 100), max_size=2)


@st.composite
def scenarios(draw):
    n_departments = draw(st.integers(1, 3))
    departments = {
        d: DepartmentSettings(
            strategy=draw(
                st.sampled_from(["least_loaded", "longest_idle", "round_robin", "random"])
            ),
            mode=draw(st.sampled_from(["queue", "queue", "ring_group"])),
            channel_costs=draw(costs_st),
        )
        for d in range(1, n_departments + 1)
    }
    agents = []
    for agent_id in range(1, draw(st.integers(0, 10)) + 1):
        capacity = draw(st.sampled_from([0, 20, 40, 60, 100, 140]))
        agents.append(
            FreeAgent(
                agent_id,
                capacity,
                draw(st.integers(0, capacity)),
                frozenset(draw(st.sets(st.integers(1, n_departments), min_size=1))),
                draw(skills_st),
                draw(costs_st),
                NOW - timedelta(seconds=draw(st.integers(0, 1000))),
                NOW - timedelta(seconds=draw(st.integers(0, 1000))),
            )
        )
    items = []
    for interaction_id in range(1, draw(st.integers(0, 25)) + 1):
        preferred = draw(st.one_of(st.none(), st.integers(1, 12)))
        items.append(
            WaitingInteraction(
                interaction_id,
                draw(st.integers(1, n_departments)),
                draw(st.sampled_from(CHANNELS)),
                NOW + timedelta(seconds=interaction_id),
                draw(skills_st),
                preferred,
                NOW + timedelta(seconds=draw(st.integers(-30, 30))) if preferred else None,
                frozenset(draw(st.sets(st.integers(1, 12), max_size=3))),
            )
        )
    return departments, agents, items


def eligible(a: FreeAgent, item: WaitingInteraction, settings: DepartmentSettings, room: int):
    return (
        item.department_id in a.departments
        and cost_of(item.channel, settings.channel_costs, a.costs) <= room
        and has_skills(a.skills, item.skills)
        and (not is_sticky(item, NOW) or a.agent_id == item.preferred_agent_id)
    )


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.integers(0, 2**32 - 1))
def test_matching_never_overfills_never_doubles_and_serves_in_queue_order(scenario, seed) -> None:
    departments, agents, items = scenario
    result = match(items, agents, departments, NOW, random.Random(seed))
    by_id = {a.agent_id: a for a in agents}
    room = {a.agent_id: max(0, a.capacity - a.load) for a in agents}
    position = {item.interaction_id: n for n, item in enumerate(items)}
    item_of = {item.interaction_id: item for item in items}

    # Assignments come in queue order, each charged what its channel costs that agent.
    assert [position[a.interaction_id] for a in result] == sorted(
        position[a.interaction_id] for a in result
    )
    room_at_turn: dict[int, dict[int, int]] = {}
    left = dict(room)
    for a in result:
        item = item_of[a.interaction_id]
        settings = departments[item.department_id]
        room_at_turn.setdefault(a.interaction_id, dict(left))
        assert a.cost == cost_of(item.channel, settings.channel_costs, by_id[a.agent_id].costs)
        assert eligible(by_id[a.agent_id], item, settings, left[a.agent_id])
        assert a.mode == settings.mode
        left[a.agent_id] -= a.cost
        assert left[a.agent_id] >= 0

    # Queue mode: one agent per interaction; ring group: never one agent twice.
    for interaction_id, n in Counter(a.interaction_id for a in result).items():
        mode = departments[item_of[interaction_id].department_id].mode
        agents_of = [a.agent_id for a in result if a.interaction_id == interaction_id]
        assert len(set(agents_of)) == n
        assert mode == "ring_group" or n == 1

    # Nobody left waiting could have been served at its turn: higher ranks go first.
    assigned = {a.interaction_id for a in result}
    for item in items:
        if item.interaction_id in assigned:
            continue
        before = [a for a in result if position[a.interaction_id] < position[item.interaction_id]]
        room_then = dict(room)
        for a in before:
            room_then[a.agent_id] -= a.cost
        settings = departments[item.department_id]
        assert not any(eligible(a, item, settings, room_then[a.agent_id]) for a in agents)


def strategy_key(strategy: str, a: FreeAgent, load: int, last: tuple[int, float]):
    """What the strategy orders agents by, ties left out where it breaks them at random.
    ``last``: when last offered, (0, time) before the batch, (1, n) at its n-th offer."""
    if strategy == "least_loaded":
        return (load / a.capacity if a.capacity else 1.0,)
    if strategy == "longest_idle":
        if load == 0:
            return (0, (0, a.idle_since.timestamp() if a.idle_since else 0.0), a.agent_id)
        return (1, last, a.agent_id)
    if strategy == "round_robin":
        return (last, a.agent_id)
    return ()


@settings(max_examples=200, deadline=None)
@given(scenarios(), st.integers(0, 2**32 - 1))
def test_each_interaction_goes_where_a_brute_force_reference_would(scenario, seed) -> None:
    """At every turn the reference looks at every agent afresh: who is eligible, whom the
    strategy puts first. Where the strategy draws lots, any agent tied first will do."""
    departments, agents, items = scenario
    result = match(items, agents, departments, NOW, random.Random(seed))
    got: dict[int, list[int]] = {}
    for a in result:
        got.setdefault(a.interaction_id, []).append(a.agent_id)
    load = {a.agent_id: a.load for a in agents}
    last = {
        a.agent_id: (0, a.last_offer_at.timestamp() if a.last_offer_at else 0.0) for a in agents
    }
    offers = 0
    for item in items:
        settings = departments[item.department_id]
        candidates = [
            a for a in agents if eligible(a, item, settings, max(0, a.capacity - load[a.agent_id]))
        ]
        if not is_sticky(item, NOW):
            fresh = [a for a in candidates if a.agent_id not in item.declined_by]
            candidates = fresh or candidates
        keys = {
            a.agent_id: strategy_key(settings.strategy, a, load[a.agent_id], last[a.agent_id])
            for a in candidates
        }
        agent_ids = got.get(item.interaction_id, [])
        if settings.mode == "ring_group" and not is_sticky(item, NOW):
            assert sorted(agent_ids) == sorted(keys)
            assert [keys[i] for i in agent_ids] == sorted(keys.values())
        elif candidates:
            first = min(keys.values())
            assert len(agent_ids) == 1
            assert keys[agent_ids[0]] == first
        else:
            assert agent_ids == []
        by_id = {a.agent_id: a for a in agents}
        for agent_id in agent_ids:
            offers += 1
            load[agent_id] += cost_of(item.channel, settings.channel_costs, by_id[agent_id].costs)
            last[agent_id] = (1, offers)


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_pages_matched_one_after_another_match_like_one_queue(scenario) -> None:
    departments, agents, items = scenario
    whole = match(items, agents, departments, NOW, random.Random(7))
    matcher = Matcher(agents, departments, NOW, random.Random(7))
    paged = matcher.match(items[:5]) + matcher.match(items[5:])
    assert chosen(paged) == chosen(whole)


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_reachable_departments_and_channels_cover_every_possible_assignment(scenario) -> None:
    departments, agents, items = scenario
    department_ids, channels = reachable(agents, departments)
    for a in match(items, agents, departments, NOW, random.Random(1)):
        item = next(i for i in items if i.interaction_id == a.interaction_id)
        assert item.department_id in department_ids
        assert item.channel in channels


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_what_is_reachable_after_a_page_covers_every_assignment_further_back(scenario) -> None:
    departments, agents, items = scenario
    matcher = Matcher(agents, departments, NOW, random.Random(3))
    matcher.match(items[:5])
    department_ids, channels = matcher.reachable()
    item_of = {i.interaction_id: i for i in items}
    for a in matcher.match(items[5:]):
        assert item_of[a.interaction_id].department_id in department_ids
        assert item_of[a.interaction_id].channel in channels


# --- strategies ----------------------------------------------------------------------------


def one_choice(strategy: str, agents: list[FreeAgent], seed: int = 1) -> int:
    departments = {1: DepartmentSettings(strategy=strategy)}  # type: ignore[arg-type]
    result = match([waiting(1)], agents, departments, NOW, random.Random(seed))
    assert len(result) == 1
    return result[0].agent_id


def test_least_loaded_takes_the_agent_with_the_smallest_share_of_capacity_used() -> None:
    agents = [agent(1, load=40), agent(2, capacity=140, load=40), agent(3, load=60)]
    assert one_choice("least_loaded", agents) == 2


def test_least_loaded_spreads_ties_uniformly() -> None:
    agents = [agent(n) for n in range(1, 5)]
    picks = Counter(one_choice("least_loaded", agents, seed) for seed in range(2000))
    assert set(picks) == {1, 2, 3, 4}
    assert all(400 < count < 600 for count in picks.values()), picks


def test_longest_idle_takes_the_agent_idle_longest_before_any_busy_one() -> None:
    agents = [
        agent(1, idle_since=NOW - timedelta(seconds=10)),
        agent(2, idle_since=NOW - timedelta(seconds=300)),
        agent(3, load=20, idle_since=NOW - timedelta(hours=5), last_offer_at=NOW),
    ]
    assert one_choice("longest_idle", agents) == 2


def test_round_robin_takes_turns() -> None:
    departments = {1: DepartmentSettings(strategy="round_robin")}
    last: dict[int, datetime | None] = {1: None, 2: None, 3: None}
    turns = []
    for n in range(7):
        now = NOW + timedelta(seconds=n)
        agents = [agent(a, capacity=20, last_offer_at=at) for a, at in last.items()]
        (a,) = match([waiting(n)], agents, departments, now, random.Random(n))
        turns.append(a.agent_id)
        last[a.agent_id] = now
    assert turns == [1, 2, 3, 1, 2, 3, 1]


def test_random_chooses_every_eligible_agent_about_as_often() -> None:
    agents = [agent(n) for n in range(1, 4)]
    picks = Counter(one_choice("random", agents, seed) for seed in range(3000))
    assert all(850 < count < 1150 for count in picks.values()), picks


def test_a_batch_spreads_interactions_over_agents_by_the_strategy() -> None:
    departments = {1: DepartmentSettings(strategy="least_loaded")}
    agents = [agent(1), agent(2)]
    result = match([waiting(n) for n in range(4)], agents, departments, NOW, random.Random(3))
    assert Counter(a.agent_id for a in result) == {1: 2, 2: 2}


# --- eligibility ---------------------------------------------------------------------------


def test_skills_below_the_level_asked_do_not_qualify() -> None:
    departments = {1: DepartmentSettings()}
    agents = [agent(1, skills={"en": 2}), agent(2, skills={"en": 4, "de": 1})]
    result = match([waiting(1, skills={"en": 3})], agents, departments, NOW)
    assert chosen(result) == [(1, 2)]
    assert match([waiting(1, skills={"fr": 1})], agents, departments, NOW) == []


def test_an_agent_serving_several_departments_takes_the_longest_waiting_of_all() -> None:
    departments = {1: DepartmentSettings(), 2: DepartmentSettings()}
    result = match(
        [waiting(7, department=2, age_s=90), waiting(8, department=1, age_s=30)],
        [agent(1, departments=(1, 2), capacity=20)],
        departments,
        NOW,
    )
    assert chosen(result) == [(7, 1)]


def test_a_head_of_the_queue_nobody_can_take_does_not_block_what_others_can() -> None:
    departments = {1: DepartmentSettings()}
    items = [waiting(1, channel="voice", age_s=60), waiting(2, channel="email")]
    result = match(items, [agent(1, load=60)], departments, NOW)
    assert chosen(result) == [(2, 1)]


def test_a_sticky_interaction_waits_for_its_agent_then_goes_to_anyone() -> None:
    departments = {1: DepartmentSettings()}
    agents = [agent(1), agent(2, load=100)]
    sticky = waiting(1, preferred_agent_id=2, sticky_until=NOW + timedelta(seconds=30))
    assert match([sticky], agents, departments, NOW) == []
    later = NOW + timedelta(seconds=31)
    assert chosen(match([sticky], agents, departments, later)) == [(1, 1)]
    free_manager = [agent(1), agent(2)]
    assert chosen(match([sticky], free_manager, departments, NOW)) == [(1, 2)]


def test_agents_who_declined_are_asked_again_only_if_nobody_else_can() -> None:
    departments = {1: DepartmentSettings(strategy="round_robin")}
    item = waiting(1, declined_by=frozenset({1}))
    assert chosen(match([item], [agent(1), agent(2, load=20)], departments, NOW)) == [(1, 2)]
    assert chosen(match([item], [agent(1), agent(2, load=100)], departments, NOW)) == [(1, 1)]


def test_a_ring_group_offers_to_every_eligible_agent_at_once() -> None:
    departments = {1: DepartmentSettings(mode="ring_group")}
    agents = [agent(1), agent(2), agent(3, load=90), agent(4, departments=(2,))]
    result = match([waiting(1, channel="voice")], agents, departments, NOW)
    assert sorted(chosen(result)) == [(1, 1), (1, 2)]
    assert {a.mode for a in result} == {"ring_group"}


# --- aging -----------------------------------------------------------------------------------


def test_a_low_priority_channel_is_served_under_constant_high_priority_load() -> None:
    """One agent, two calls arriving for every one it can serve, one e-mail waiting: calls
    arriving up to 6 channel steps of 30 s after the e-mail rank ahead of it, later ones
    behind, so it is served once those (two per tick) are — not never."""
    settings = DepartmentSettings(priority_step_s=30)
    departments = {1: settings}
    tick = timedelta(seconds=10)
    queue: list[WaitingInteraction] = []
    next_id = 1

    def arrive(channel: str, at: datetime) -> None:
        nonlocal next_id
        rank = rank_time(at, channel, 0, settings.channel_priority, settings.priority_step_s)  # type: ignore[arg-type]
        queue.append(WaitingInteraction(next_id, 1, channel, rank))  # type: ignore[arg-type]
        next_id += 1

    arrive("email", NOW)
    email_id = 1
    served_at = None
    for n in range(1, 200):
        now = NOW + n * tick
        arrive("voice", now)
        arrive("voice", now)
        queue.sort(key=lambda w: (w.rank_at, w.interaction_id))
        (served,) = match(queue, [agent(1, capacity=60)], departments, now)
        queue = [w for w in queue if w.interaction_id != served.interaction_id]
        if served.interaction_id == email_id:
            served_at = now
            break
    assert served_at is not None, "the e-mail starved"
    overtaking = timedelta(seconds=6 * 30)
    assert served_at - NOW <= 2 * overtaking + tick
