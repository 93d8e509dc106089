"""Pure parts of the workspace: numbering a batch, channel names, the socket's checks,
the way to outside numbers."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from server.phones import ENDPOINT_PATTERN
from workspace.calls import CallControls, OutsideNumbersOff
from workspace.config import WorkspaceConfig, with_trunk
from workspace.screenpop import endpoint_of_channel
from workspace.sockets import parse_since, same_origin
from workspace.stream import Outgoing, number_items


def test_each_users_items_in_a_batch_take_consecutive_numbers_in_order() -> None:
    a, b, c = (Outgoing("x", {"n": n}, user_id=1) for n in range(3))
    d = Outgoing("x", {"n": 9}, user_id=2)
    numbered = number_items([(1, a), (2, d), (1, b), (1, c)], {1: 12, 2: 5})
    assert [(u, seq, item.payload["n"]) for u, seq, item in numbered] == [
        (1, 10, 0),
        (2, 5, 9),
        (1, 11, 1),
        (1, 12, 2),
    ]


def test_an_item_goes_to_a_user_or_to_an_interactions_holder_never_both() -> None:
    with pytest.raises(ValueError):
        Outgoing("x", {})
    with pytest.raises(ValueError):
        Outgoing("x", {}, user_id=1, holder_of=2)


def test_the_endpoint_of_a_channel_name() -> None:
    assert endpoint_of_channel("PJSIP/1101-0000002a") == "1101"
    assert endpoint_of_channel("PJSIP/agent-7-0000002a") == "agent-7"
    assert endpoint_of_channel("Local/500@ivr-in-00000001;2") is None


def test_the_socket_opens_only_from_our_own_pages() -> None:
    ours = make_mocked_request(
        "GET", "/api/v1/ws", headers={"Host": "cc.example", "Origin": "http://cc.example"}
    )
    assert same_origin(ours)
    theirs = make_mocked_request(
        "GET", "/api/v1/ws", headers={"Host": "cc.example", "Origin": "http://evil.example"}
    )
    assert not same_origin(theirs)
    assert same_origin(theirs, "http://evil.example/")
    assert same_origin(make_mocked_request("GET", "/api/v1/ws", headers={"Host": "cc.example"}))


def test_since_is_a_sequence_number() -> None:
    assert parse_since(None) is None and parse_since("") is None
    assert parse_since("42") == 42
    for bad in ("-1", "x", "1" * 19):
        with pytest.raises(ValueError):
            parse_since(bad)


def test_outside_numbers_go_through_outbound_once_a_carrier_is_configured() -> None:
    default = WorkspaceConfig()
    assert with_trunk(default, trunk_configured=False).outbound_context == ""
    assert with_trunk(default, trunk_configured=True).outbound_context == "outbound"
    named = WorkspaceConfig(outbound_context="pstn")
    assert with_trunk(named, trunk_configured=True).outbound_context == "pstn"
    assert with_trunk(named, trunk_configured=False).outbound_context == "pstn"


async def test_without_a_carrier_a_transfer_to_a_number_is_refused_before_asterisk() -> None:
    # Refused before any action: the AMI client is never reached.
    controls = CallControls(None, with_trunk(WorkspaceConfig(), trunk_configured=False))  # type: ignore[arg-type]
    with pytest.raises(OutsideNumbersOff):
        await controls.transfer("1101", number="+4930123456")


def test_an_agents_endpoint_is_any_name_the_agents_dialplan_reaches() -> None:
    for name in ("1101", "oleg.desk-2", "Front_Desk", "ab"):
        assert ENDPOINT_PATTERN.match(name), name
    # One letter is Asterisk's own (h, i, s, t); & or / would reach Dial as more targets.
    for name in ("h", "1", "a&b", "x/y", "x" * 41, ""):
        assert not ENDPOINT_PATTERN.match(name), name
