"""The call tracker alone (pure): fed recorded Asterisk traffic, and resync."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pbx.ami.codec import AmiDecoder, AmiMessage
from pbx.capture import record_to_json, replay
from pbx.events import CallAnswered, CallEnded, CallEvent, CallRinging, CallStarted
from pbx.tracker import CallState, CallTracker

CAPTURES = Path(__file__).parent / "captures"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def messages(name: str) -> list[AmiMessage]:
    dec = AmiDecoder(strict=True)
    dec.receive_data((CAPTURES / f"{name}.ami").read_bytes())
    dec.receive_data(b"")
    return [m for m in dec.events() if isinstance(m, AmiMessage)]


def expected(name: str) -> list[dict[str, object]]:
    lines = (CAPTURES / f"{name}.expected.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("tech", ["SIP", "IAX2", "DAHDI"])
@pytest.mark.parametrize("name", ["ring_group", "blind_transfer", "cyrillic_robot_caller"])
def test_nothing_depends_on_the_channel_technology(tmp_path: Path, tech: str, name: str) -> None:
    renamed = tmp_path / "renamed.ami"
    original = (CAPTURES / f"{name}.ami").read_bytes()
    renamed.write_bytes(original.replace(b"PJSIP/", f"{tech}/".encode()))
    want = json.loads(json.dumps(expected(name)).replace("PJSIP/", f"{tech}/"))
    assert list(replay(renamed)) == want


def test_domain_events_of_a_ring_group_in_order() -> None:
    tracker = CallTracker(clock=lambda: T0)
    events: list[CallEvent] = []
    for msg in messages("ring_group"):
        events.extend(tracker.feed(msg))
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["CallStarted", "CallRinging", "CallRinging", "CallAnswered", "CallEnded"]
    assert {e.party.number for e in events if isinstance(e, CallRinging)} == {"1002", "1003"}
    (answered,) = [e for e in events if isinstance(e, CallAnswered)]
    assert answered.party.number == "1003"
    assert tracker.calls == {}


def test_call_states_move_forward() -> None:
    tracker = CallTracker(clock=lambda: T0)
    states = []
    for msg in messages("answered_caller_hangs_up"):
        tracker.feed(msg)
        states += [c.state for c in tracker.calls.values()]
    seen = list(dict.fromkeys(states))
    assert seen == [CallState.DIALLING, CallState.RINGING, CallState.ANSWERED]


def _until(msgs: list[AmiMessage], event: str) -> int:
    return next(i for i, m in enumerate(msgs) if m.event == event) + 1


def test_resync_closes_calls_that_ended_while_away() -> None:
    msgs = messages("answered_caller_hangs_up")
    cut = _until(msgs, "BridgeEnter")
    tracker = CallTracker(clock=lambda: T0)
    for msg in msgs[:cut]:
        tracker.feed(msg)
    assert len(tracker.calls) == 1
    # Asterisk came back with no channels: the call is over, we only know it now.
    later = datetime(2026, 11, 20, 9, 5, tzinfo=UTC)
    (ended,) = [e for e in tracker.resync([], later) if isinstance(e, CallEnded)]
    record = ended.record
    assert record.closed_by_resync and record.ended_at == later
    assert record.disposition == "answered" and record.hangup_by == "unknown"
    assert tracker.calls == {}


def _snapshot(msgs: list[AmiMessage], upto: int) -> list[AmiMessage]:
    """What CoreShowChannels would list after ``upto`` messages: live channels,
    their state and bridge (built from the recorded events themselves)."""
    live: dict[str, dict[str, str]] = {}
    for msg in msgs[:upto]:
        uid = msg.get("Uniqueid")
        if msg.event == "Newchannel" and uid:
            live[uid] = {**msg, "Event": "CoreShowChannel"}
        elif msg.event == "Hangup" and uid:
            live.pop(uid, None)
        elif uid in live:
            if msg.event == "BridgeEnter":
                live[uid]["BridgeId"] = msg["BridgeUniqueid"]
            for key in ("ChannelState", "CallerIDNum", "CallerIDName", "Linkedid"):
                if key in msg:
                    live[uid][key] = msg[key]
    return [AmiMessage.from_fields(fields) for fields in live.values()]


def test_resync_picks_up_a_call_in_progress_and_tracks_it_to_the_end() -> None:
    msgs = messages("answered_callee_hangs_up")
    cut = _until(msgs, "BridgeEnter") + 1  # both parties are in the bridge
    tracker = CallTracker(clock=lambda: T0)
    found = tracker.resync(_snapshot(msgs, cut), T0)
    assert [type(e) for e in found] == [CallStarted, CallAnswered]
    events: list[CallEvent] = []
    for msg in msgs[cut:]:
        events.extend(tracker.feed(msg))
    (ended,) = [e for e in events if isinstance(e, CallEnded)]
    got = record_to_json(ended.record)
    want = expected("answered_callee_hangs_up")[0]
    assert got["call_id"] == want["call_id"] and got["answered_by"] == want["answered_by"]
    assert got["hangup_by"] == "callee" and got["disposition"] == "answered"


def test_resync_overlapping_the_live_stream_changes_nothing() -> None:
    msgs = messages("blind_transfer")
    cut = _until(msgs, "BlindTransfer")
    tracker = CallTracker(clock=lambda: T0)
    for msg in msgs[:cut]:
        tracker.feed(msg)
    assert tracker.resync(_snapshot(msgs, cut), T0) == []
    ended = [e for m in msgs[cut:] for e in tracker.feed(m) if isinstance(e, CallEnded)]
    assert [record_to_json(e.record) for e in ended] == expected("blind_transfer")


def test_a_channel_moved_to_another_linkedid_leaves_its_first_call() -> None:
    def ev(**fields: str) -> AmiMessage:
        return AmiMessage.from_fields(fields)

    tracker = CallTracker(clock=lambda: T0)
    tracker.feed(ev(Event="Newchannel", Channel="SIP/a-1", Uniqueid="1.1", Linkedid="1.1"))
    tracker.feed(ev(Event="Newchannel", Channel="SIP/b-2", Uniqueid="1.2", Linkedid="1.1"))
    # A consultation call: b2 rang c; b2 hangs up, c joins the first call.
    tracker.feed(ev(Event="Newchannel", Channel="SIP/b-3", Uniqueid="2.3", Linkedid="2.3"))
    tracker.feed(ev(Event="Newchannel", Channel="SIP/c-4", Uniqueid="2.4", Linkedid="2.3"))
    tracker.feed(ev(Event="Hangup", Channel="SIP/b-3", Uniqueid="2.3", Linkedid="2.3"))
    assert set(tracker.calls) == {"1.1", "2.3"}
    out = tracker.feed(ev(Event="BridgeEnter", Uniqueid="2.4", Linkedid="1.1", BridgeUniqueid="x"))
    assert [type(e) for e in out] == [CallStarted, CallEnded]
    assert set(tracker.calls) == {"1.1"}
    assert "SIP/c-4" in tracker.calls["1.1"].channels


def test_a_call_whose_only_channel_moves_on_untold_is_merged_silently() -> None:
    def ev(**fields: str) -> AmiMessage:
        return AmiMessage.from_fields(fields)

    tracker = CallTracker(clock=lambda: T0)
    tracker.feed(ev(Event="Newchannel", Channel="SIP/a-1", Uniqueid="1.1", Linkedid="1.1"))
    # A phone dials a pickup code: its channel answers the ringing call and joins it.
    tracker.feed(ev(Event="Newchannel", Channel="SIP/p-2", Uniqueid="2.2", Linkedid="2.2"))
    assert list(tracker.feed(ev(Event="BridgeEnter", Uniqueid="2.2", Linkedid="1.1"))) == []
    assert set(tracker.calls) == {"1.1"}


def test_after_an_asterisk_restart_reused_ids_are_a_new_call() -> None:
    msgs = messages("answered_caller_hangs_up")
    cut = _until(msgs, "BridgeEnter") + 1
    tracker = CallTracker(clock=lambda: T0)
    for msg in msgs[:cut]:
        tracker.feed(msg)
    (old,) = tracker.calls.values()
    # The restarted Asterisk happens to run channels with the very same ids.
    later = datetime(2026, 11, 20, 9, 5, tzinfo=UTC)
    events = tracker.resync(_snapshot(msgs, cut), later, asterisk_restarted=True)
    ended = [e for e in events if isinstance(e, CallEnded)]
    assert [e.record.started_at for e in ended] == [T0]
    assert ended[0].record.closed_by_resync
    (new,) = tracker.calls.values()
    assert new is not old and new.call_id == old.call_id and new.started_at == later
