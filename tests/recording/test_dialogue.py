"""The dialogue of two speakers and where a phrase was said (pure)."""

from __future__ import annotations

from recording.dialogue import (
    Word,
    dialogue_from_json,
    dialogue_text,
    dialogue_to_json,
    locate_phrase,
    merge_dialogue,
)


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


def test_locate_phrase_reads_recognised_words_the_way_search_does() -> None:
    # The model sometimes emits tokens with brackets; full-text search sees "10".
    words = [w("번호", 1.0, 1.3), w("[10]", 1.4, 1.8)]
    assert locate_phrase(words, "10") == words[1]
    assert locate_phrase(words, "[10]") == words[1]
