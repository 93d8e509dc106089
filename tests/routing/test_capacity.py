"""Capacity arithmetic: default costs, department and agent overrides."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from routing.capacity import DEFAULT_CAPACITY, DEFAULT_COSTS, cost_of, fits, room
from routing.models import CHANNELS


def total(channels: list[str], department: dict | None = None, agent: dict | None = None) -> int:
    return sum(cost_of(c, department or {}, agent or {}) for c in channels)  # type: ignore[arg-type]


def test_an_agent_takes_one_call_and_two_chats_or_five_chats() -> None:
    assert fits(DEFAULT_CAPACITY, 0, total(["voice", "webchat", "webchat"]))
    assert not fits(DEFAULT_CAPACITY, 0, total(["voice", "webchat", "webchat", "telegram"]))
    assert fits(DEFAULT_CAPACITY, 0, total(["webchat", "telegram", "sms", "whatsapp", "webchat"]))
    assert not fits(DEFAULT_CAPACITY, 0, total(["webchat"] * 6))
    assert not fits(DEFAULT_CAPACITY, 0, total(["voice", "callback"]))
    assert fits(DEFAULT_CAPACITY, 0, total(["email"] * 10))


def test_a_department_makes_calls_exclusive_by_costing_them_the_whole_capacity() -> None:
    exclusive = {"voice": 100}
    assert fits(DEFAULT_CAPACITY, 0, total(["voice"], exclusive))
    assert not fits(DEFAULT_CAPACITY, 0, total(["voice", "email"], exclusive))
    assert not fits(DEFAULT_CAPACITY, total(["webchat"]), total(["voice"], exclusive))


def test_an_agent_override_wins_over_the_department() -> None:
    novice = {"webchat": 50}
    assert cost_of("webchat", {"webchat": 25}, novice) == 50
    assert fits(DEFAULT_CAPACITY, 0, total(["webchat", "webchat"], agent=novice))
    assert not fits(DEFAULT_CAPACITY, 0, total(["webchat"] * 3, agent=novice))
    assert cost_of("email", {"webchat": 25}, novice) == DEFAULT_COSTS["email"]


@given(
    st.integers(0, 500),
    st.integers(0, 500),
    st.sampled_from(CHANNELS),
    st.dictionaries(st.sampled_from(CHANNELS), st.integers(1, 200)),
    st.dictionaries(st.sampled_from(CHANNELS), st.integers(1, 200)),
)
def test_what_fits_never_exceeds_the_capacity_and_room_is_never_negative(
    capacity: int, load: int, channel: str, department: dict, agent: dict
) -> None:
    cost = cost_of(channel, department, agent)  # type: ignore[arg-type]
    assert cost == agent.get(channel, department.get(channel, DEFAULT_COSTS[channel]))
    assert room(capacity, load) >= 0
    if fits(capacity, load, cost):
        assert load + cost <= capacity
        assert cost <= room(capacity, load)
