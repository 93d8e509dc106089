"""Which side of an answered call is the agent's, and so where the recording goes.
Pure; no I/O."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from pbx.events import Direction, Party
from pbx.journal import endpoint_of

__all__ = ["AgentSide", "agent_side", "candidate_endpoints"]


@dataclass(frozen=True)
class AgentSide:
    direction: Direction
    # The agent's channel: MixMonitor goes there, so what it reads is the agent's
    # voice and what it writes (sends to the phone) is the customer's.
    channel: str
    endpoint: str
    # Every agent phone on the call (two on an internal call): who may pause it.
    agent_endpoints: frozenset[str]


def _endpoint(party: Party) -> str | None:
    return endpoint_of(party.channel)


def candidate_endpoints(caller: Party | None, answered: Party) -> list[str]:
    """The endpoints to look up among the agents' phones."""
    parties = [answered] if caller is None else [caller, answered]
    out = [e for p in parties if (e := _endpoint(p)) is not None]
    if caller is not None and caller.number is not None:
        out.append(caller.number)
    return out


def agent_side(caller: Party | None, answered: Party, agents: Collection[str]) -> AgentSide | None:
    """The agent's side of a call just answered, or None when no agent is on it.

    Directions follow the journal's (``pbx.journal.classify_direction``): a call from
    an agent's phone (or number) is internal when an agent answers, outbound when
    someone else does. The answering agent is the one recorded on an internal call.
    """
    answered_ep = _endpoint(answered)
    caller_ep = _endpoint(caller) if caller is not None else None
    caller_is_agent = caller is not None and (
        caller_ep in agents or (caller.number is not None and caller.number in agents)
    )
    if answered_ep is not None and answered_ep in agents:
        on_call = {answered_ep} | ({caller_ep} if caller_is_agent and caller_ep else set())
        return AgentSide(
            "internal" if caller_is_agent else "inbound",
            answered.channel,
            answered_ep,
            frozenset(on_call),
        )
    if caller is not None and caller_ep is not None and caller_ep in agents:
        return AgentSide("outbound", caller.channel, caller_ep, frozenset({caller_ep}))
    return None
