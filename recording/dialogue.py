"""Transcripts as data: recognised words, the dialogue of two speakers, and where a
phrase was said. Pure functions, no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Speaker = Literal["customer", "agent"]

# A pause longer than this within one speaker's words starts a new utterance.
DEFAULT_MAX_GAP_S = 1.0

_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class Word:
    word: str
    start: float  # seconds from the start of the recording
    end: float
    conf: float


@dataclass(frozen=True)
class Utterance:
    speaker: Speaker
    words: tuple[Word, ...]

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def end(self) -> float:
        return self.words[-1].end

    @property
    def text(self) -> str:
        return " ".join(w.word for w in self.words)


def utterances(speaker: Speaker, words: Iterable[Word], max_gap_s: float) -> list[Utterance]:
    """One speaker's words, in time order, cut into utterances at pauses."""
    out: list[Utterance] = []
    current: list[Word] = []
    for word in sorted(words, key=lambda w: (w.start, w.end)):
        if current and word.start - current[-1].end > max_gap_s:
            out.append(Utterance(speaker, tuple(current)))
            current = []
        current.append(word)
    if current:
        out.append(Utterance(speaker, tuple(current)))
    return out


def merge_dialogue(
    customer_words: Iterable[Word],
    agent_words: Iterable[Word],
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> tuple[Utterance, ...]:
    """Both speakers' words → one dialogue ordered by time, labelled by speaker.

    Each side is cut into utterances first, so speakers talking over each other
    stay readable: an utterance is never split by the other side's words. On an
    exact tie the customer goes first (they called).
    """
    turns = utterances("customer", customer_words, max_gap_s) + utterances(
        "agent", agent_words, max_gap_s
    )
    order = {"customer": 0, "agent": 1}
    return tuple(sorted(turns, key=lambda u: (u.start, order[u.speaker], u.end)))


def dialogue_text(dialogue: Sequence[Utterance]) -> str:
    """The words of the whole dialogue, one utterance a line (what is indexed for search)."""
    return "\n".join(u.text for u in dialogue)


def locate_phrase(words: Sequence[Word], phrase: str) -> Word | None:
    """The first word of the first place the phrase's words are said in a row."""
    tokens = [t.lower() for t in _TOKEN.findall(phrase)]
    if not tokens:
        return None
    # Compared as search sees them: a recognised "[10]" is the word "10".
    said = ["".join(_TOKEN.findall(w.word.lower())) for w in words]
    for i in range(len(said) - len(tokens) + 1):
        if said[i : i + len(tokens)] == tokens:
            return words[i]
    return None


def dialogue_to_json(dialogue: Sequence[Utterance]) -> list[dict[str, Any]]:
    return [
        {
            "speaker": u.speaker,
            "start": u.start,
            "end": u.end,
            "text": u.text,
            "words": [
                {"word": w.word, "start": w.start, "end": w.end, "conf": w.conf} for w in u.words
            ],
        }
        for u in dialogue
    ]


def dialogue_from_json(segments: Sequence[dict[str, Any]]) -> tuple[Utterance, ...]:
    return tuple(Utterance(s["speaker"], tuple(Word(**w) for w in s["words"])) for s in segments)
