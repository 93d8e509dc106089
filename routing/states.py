"""The interaction state machine: which action is allowed from which state, and where it leads.

queued → offered → accepted → wrap_up → completed, plus abandoned, expired and requeued.
``requeued`` waits exactly like ``queued`` (and keeps its place); it only tells that the
interaction had been with an agent before. The SQL of every transition guards on
``sources(action)``, so a transition raced by another process is refused, not repeated.
"""

from __future__ import annotations

from typing import Literal, get_args

from .errors import InvalidTransition

State = Literal[
    "queued", "offered", "accepted", "wrap_up", "completed", "abandoned", "expired", "requeued"
]
STATES: tuple[State, ...] = get_args(State)
Action = Literal[
    "offer",
    "auto_accept",
    "accept",
    "decline",
    "time_out",
    "cancel_offer",
    "abandon",
    "expire",
    "overflow",
    "requeue",
    "complete",
    "finish_wrapup",
    "change_channel",
]

WAITING: tuple[State, ...] = ("queued", "requeued")
IN_SERVICE: tuple[State, ...] = ("offered", "accepted", "wrap_up")
FINAL: tuple[State, ...] = ("completed", "abandoned", "expired")

# action → (states it may start from, state it leads to). Where an action can lead to two
# states, the second is chosen by the caller (complete: wrap_up or straight to completed;
# decline of one ring-group offer while others still ring: stays offered).
_TRANSITIONS: dict[Action, tuple[tuple[State, ...], tuple[State, ...]]] = {
    "offer": (WAITING, ("offered",)),
    "auto_accept": (WAITING, ("accepted",)),
    "accept": (("offered",), ("accepted",)),
    "decline": (("offered",), ("queued", "offered")),
    "time_out": (("offered",), ("queued", "offered")),
    "cancel_offer": (("offered",), ("queued", "offered")),
    "abandon": ((*WAITING, "offered"), ("abandoned",)),
    "expire": ((*WAITING, "offered"), ("expired",)),
    "overflow": ((*WAITING, "offered"), ("queued",)),
    "change_channel": ((*WAITING, "offered"), ("queued", "requeued")),
    "requeue": (IN_SERVICE, ("requeued",)),
    "complete": (("accepted",), ("wrap_up", "completed")),
    "finish_wrapup": (("wrap_up",), ("completed",)),
}


def sources(action: Action) -> tuple[State, ...]:
    return _TRANSITIONS[action][0]


def targets(action: Action) -> tuple[State, ...]:
    return _TRANSITIONS[action][1]


def transition(state: str, action: Action, target: State | None = None) -> State:
    """The state ``action`` leads to from ``state``; raises :class:`InvalidTransition`."""
    allowed_from, allowed_to = _TRANSITIONS[action]
    if state not in allowed_from:
        raise InvalidTransition(action, state)
    if target is None:
        return allowed_to[0]
    if target not in allowed_to:
        raise ValueError(f"{action} leads to {' or '.join(allowed_to)}, not {target}")
    return target


def is_waiting(state: str) -> bool:
    return state in WAITING
