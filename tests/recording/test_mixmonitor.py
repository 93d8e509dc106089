"""The AMI fields that drive MixMonitor (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recording.mixmonitor import UnsafeLegPath, check_spool, mute_fields, start_fields


def test_on_the_agents_channel_the_agent_is_read_and_the_customer_written() -> None:
    assert start_fields("PJSIP/1001-00000001", "/spool/c.wav", "/spool/a.wav") == {
        "Channel": "PJSIP/1001-00000001",
        "File": "",
        "Options": "r(/spool/a.wav)t(/spool/c.wav)",
    }


def test_pause_and_resume_mute_both_directions() -> None:
    assert mute_fields("PJSIP/1001-1", True) == {
        "Channel": "PJSIP/1001-1",
        "Direction": "both",
        "State": "1",
    }
    assert mute_fields("PJSIP/1001-1", False)["State"] == "0"


def test_the_customer_s_side_alone_is_what_the_agent_s_phone_is_sent() -> None:
    # On the agent's channel the customer's voice is written to the phone (t()).
    assert mute_fields("PJSIP/1001-1", True, "customer")["Direction"] == "write"
    assert mute_fields("PJSIP/1001-1", True, "agent")["Direction"] == "read"


@pytest.mark.parametrize("bad", ["/tmp/a,b", "/tmp/a(b)", "/tmp/a|b", "/tmp/$x", "rel/path"])
def test_spool_paths_that_cannot_travel_in_options_are_refused(bad: str) -> None:
    with pytest.raises(UnsafeLegPath):
        check_spool(Path(bad))
    assert check_spool(Path("/srv/my recordings")) == Path("/srv/my recordings")
    with pytest.raises(UnsafeLegPath):
        start_fields("PJSIP/1001-1", "/tmp/x).wav", "/tmp/a.wav")
