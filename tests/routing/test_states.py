"""The interaction state machine."""

from __future__ import annotations

import pytest

from routing.errors import InvalidTransition
from routing.states import STATES, WAITING, is_waiting, sources, targets, transition


def test_the_happy_path_goes_queued_offered_accepted_wrap_up_completed() -> None:
    state = transition("queued", "offer")
    assert state == "offered"
    state = transition(state, "accept")
    assert state == "accepted"
    state = transition(state, "complete", "wrap_up")
    assert state == "wrap_up"
    assert transition(state, "finish_wrapup") == "completed"


def test_a_requeued_interaction_waits_like_a_queued_one() -> None:
    assert transition("accepted", "requeue") == "requeued"
    assert is_waiting("requeued")
    assert transition("requeued", "offer") == "offered"
    assert set(WAITING) == {"queued", "requeued"}


@pytest.mark.parametrize("final", ["completed", "abandoned", "expired"])
def test_nothing_leaves_a_final_state(final: str) -> None:
    for action in ("offer", "accept", "decline", "abandon", "expire", "requeue", "complete"):
        with pytest.raises(InvalidTransition):
            transition(final, action)  # type: ignore[arg-type]


def test_an_action_names_the_state_that_refused_it() -> None:
    with pytest.raises(InvalidTransition, match="cannot accept an interaction that is queued"):
        transition("queued", "accept")


def test_an_ended_ring_group_offer_may_leave_the_interaction_offered() -> None:
    assert transition("offered", "decline", "offered") == "offered"
    assert transition("offered", "decline") == "queued"
    with pytest.raises(ValueError):
        transition("offered", "decline", "completed")


def test_every_state_of_the_table_is_a_known_state() -> None:
    from routing.states import _TRANSITIONS

    for action in _TRANSITIONS:
        assert set(sources(action)) <= set(STATES)
        assert set(targets(action)) <= set(STATES)
