"""Replay of captures recorded from the real Asterisk (test_asterisk_calls.py records
them); the expected output of each was written from what its test drove."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pbx.ami.codec import AmiProtocolError
from pbx.capture import replay

CAPTURES = Path(__file__).parent / "captures"
NAMES = sorted(p.name.removesuffix(".ami") for p in CAPTURES.glob("*.ami"))
SCENARIOS = {
    "answered_caller_hangs_up",
    "answered_callee_hangs_up",
    "no_answer",
    "busy_reject",
    "caller_cancels",
    "ring_group",
    "blind_transfer",
    "attended_transfer",
    # The same, in a run where Asterisk left the target out of AttendedTransfer.
    "attended_transfer_target_left_out",
    "cyrillic_robot_caller",
    "click_to_call",
    "queue_call",
    "pickup",
}


def expected(name: str) -> list[dict[str, object]]:
    text = (CAPTURES / f"{name}.expected.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_every_scenario_has_a_capture() -> None:
    assert SCENARIOS <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_replay_matches_what_was_driven(name: str) -> None:
    assert list(replay(CAPTURES / f"{name}.ami")) == expected(name)


def test_replay_of_all_captures_in_one_stream_keeps_the_order_calls_ended(tmp_path: Path) -> None:
    joined = tmp_path / "all.ami"
    joined.write_bytes(b"".join((CAPTURES / f"{n}.ami").read_bytes() for n in NAMES))
    # Each capture starts with its banner; in one stream only the first is a banner.
    data = joined.read_bytes().replace(b"Asterisk Call Manager/", b"X-Banner: ")
    joined.write_bytes(data)
    assert list(replay(joined)) == [call for n in NAMES for call in expected(n)]


def test_replay_with_lf_line_ends(tmp_path: Path) -> None:
    lf = tmp_path / "lf.ami"
    lf.write_bytes((CAPTURES / "ring_group.ami").read_bytes().replace(b"\r\n", b"\n"))
    assert list(replay(lf)) == expected("ring_group")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "pbx", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


def test_cli_prints_one_json_object_per_line() -> None:
    result = run_cli("replay", str(CAPTURES / "cyrillic_robot_caller.ami"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [json.loads(line) for line in lines] == expected("cyrillic_robot_caller")
    assert "Иван Петрович Сидоров" in lines[0]


def test_cli_names_the_bad_line_of_malformed_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ami"
    bad.write_bytes(
        b"Asterisk Call Manager/11.0.0\r\nEvent: Newchannel\r\nChannel: PJSIP/1-1\r\n\r\n"
        b"Event: Hangup\r\nthis line is not AMI\r\n\r\n"
    )
    result = run_cli("replay", str(bad))
    assert result.returncode == 2
    assert "line 6" in result.stderr and "this line is not AMI" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(AmiProtocolError):
        list(replay(bad))


def test_cli_on_a_missing_file_and_on_binary_garbage(tmp_path: Path) -> None:
    result = run_cli("replay", str(tmp_path / "nope.ami"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    garbage = tmp_path / "garbage.ami"
    garbage.write_bytes(bytes(range(256)) * 4)
    result = run_cli("replay", str(garbage))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "line" in result.stderr


def test_events_with_missing_fields_do_not_break_the_replay(tmp_path: Path) -> None:
    odd = tmp_path / "odd.ami"
    odd.write_bytes(
        b"Event: Newchannel\n\nEvent: Hangup\n\nEvent: DialBegin\nDestUniqueid: 9\n\n"
        b"Event: BridgeEnter\nUniqueid: 1\n\nEvent: AttendedTransfer\nResult: Success\n\n"
    )
    assert list(replay(odd)) == []
