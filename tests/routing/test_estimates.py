"""Estimated wait from the position, recent handle times and the agents working."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from routing.estimates import estimated_wait_s, slots


def test_slots_count_what_each_agent_could_hold_at_once() -> None:
    agents = [(100, {}), (100, {"webchat": 50}), (140, {})]
    assert slots("webchat", agents, {}) == 5 + 2 + 7
    assert slots("voice", agents, {}) == 1 + 1 + 2
    assert slots("voice", agents, {"voice": 100}) == 1 + 1 + 1


def test_the_wait_is_position_handle_times_over_the_slots() -> None:
    assert estimated_wait_s(1, 120, 4) == 30.0
    assert estimated_wait_s(10, 120, 4) == 300.0
    assert estimated_wait_s(3, 120, 0) is None


@given(st.integers(1, 1000), st.integers(1, 1000), st.floats(1, 3600), st.integers(1, 500))
def test_further_back_never_waits_less(a: int, b: int, handle: float, n: int) -> None:
    near, far = sorted((a, b))
    assert estimated_wait_s(near, handle, n) <= estimated_wait_s(far, handle, n)  # type: ignore[operator]
