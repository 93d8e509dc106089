"""Which side of an answered call is the agent's (pure)."""

from __future__ import annotations

from pbx.events import Party
from recording.sides import AgentSide, agent_side, candidate_endpoints

AGENTS = {"1001", "1002"}


def party(number: str | None, channel: str) -> Party:
    return Party(number, None, channel)


def test_an_outside_caller_answered_by_an_agent_is_inbound_recorded_on_the_agent() -> None:
    robot = party("79161234567", "Local/1001@agents-00000001;1")
    agent = party("1001", "PJSIP/1001-00000002")
    assert agent_side(robot, agent, AGENTS) == AgentSide(
        "inbound", "PJSIP/1001-00000002", "1001", frozenset({"1001"})
    )
    trunk = party("74950000000", "PJSIP/trunk-00000003")
    assert agent_side(trunk, agent, AGENTS).direction == "inbound"  # type: ignore[union-attr]


def test_an_agent_calling_out_is_recorded_on_their_own_channel() -> None:
    caller = party("1002", "PJSIP/1002-00000004")
    customer = party("84951112233", "PJSIP/trunk-00000005")
    assert agent_side(caller, customer, AGENTS) == AgentSide(
        "outbound", "PJSIP/1002-00000004", "1002", frozenset({"1002"})
    )


def test_a_call_between_agents_is_internal_and_both_may_control_it() -> None:
    caller = party("1002", "PJSIP/1002-00000006")
    callee = party("1001", "PJSIP/1001-00000007")
    side = agent_side(caller, callee, AGENTS)
    assert side == AgentSide("internal", "PJSIP/1001-00000007", "1001", frozenset({"1001", "1002"}))


def test_no_agent_on_the_call_means_nothing_to_record() -> None:
    caller = party("79161234567", "PJSIP/trunk-00000008")
    callee = party("84951112233", "PJSIP/trunk-00000009")
    assert agent_side(caller, callee, AGENTS) is None
    assert agent_side(None, callee, AGENTS) is None


def test_the_endpoints_looked_up_are_the_parties_devices_and_the_callers_number() -> None:
    caller = party("1002", "Local/500@ivr-in-0000000a;1")
    callee = party("1001", "PJSIP/1001-0000000b")
    assert candidate_endpoints(caller, callee) == ["1001", "1002"]
    assert candidate_endpoints(None, callee) == ["1001"]
