"""Where a transferred call's new agent is, read from real Asterisk 22 captures
(tests/pbx/captures, recorded from calls between baresip phones)."""

from __future__ import annotations

from pathlib import Path

from pbx.ami.codec import AmiDecoder, AmiMessage
from recording.transfers import BridgedChannel, BridgedChannels

CAPTURES = Path(__file__).parents[1] / "pbx" / "captures"


def messages(name: str) -> list[AmiMessage]:
    decoder = AmiDecoder(strict=True)
    decoder.receive_data((CAPTURES / f"{name}.ami").read_bytes())
    return [m for m in decoder.events() if isinstance(m, AmiMessage)]


def replay_until(name: str, event: str) -> tuple[BridgedChannels, list[AmiMessage]]:
    """A watch fed the capture up to and including its first ``event``, and the rest."""
    watch = BridgedChannels()
    msgs = messages(name)
    at = next(i for i, m in enumerate(msgs) if m.event == event)
    for m in msgs[: at + 1]:
        watch.feed(m)
    return watch, msgs[at + 1 :]


def entered(watch: BridgedChannels, rest: list[AmiMessage]) -> list[BridgedChannel]:
    """Feed the rest; every phone channel that entered a bridge meanwhile."""
    return [e for m in rest if (e := watch.feed(m)) is not None]


def test_after_a_blind_transfer_the_target_enters_a_bridge_when_it_answers() -> None:
    watch, rest = replay_until("blind_transfer", "BlindTransfer")
    assert watch.bridged("1795599127.13", "1003") == []
    assert [(e.channel, e.call_id, e.endpoint) for e in entered(watch, rest)] == [
        ("PJSIP/1003-0000000f", "1795599127.13", "1003"),
        ("PJSIP/1001-0000000d", "1795599127.13", "1001"),
    ]
    assert len(watch) == 0, "every channel left its bridge by the end"


def test_at_an_attended_transfer_the_target_is_already_bridged_and_moves_to_the_caller() -> None:
    watch, rest = replay_until("attended_transfer", "AttendedTransfer")
    (target,) = watch.bridged("1795599129.16", "1003")
    assert target.channel == "PJSIP/1003-00000012"
    assert watch.bridged("1795599129.16", "1002") == [], "the transferer left"
    # Local channels are not phones; the target's swap into the caller's bridge is.
    (moved,) = entered(watch, rest)
    assert (moved.channel, moved.swapped) == ("PJSIP/1003-00000012", True)
    assert moved.bridge != target.bridge


def test_a_lost_ami_connection_forgets_every_bridge() -> None:
    watch, _ = replay_until("attended_transfer", "AttendedTransfer")
    watch.clear()
    assert watch.bridged("1795599129.16", "1003") == []
