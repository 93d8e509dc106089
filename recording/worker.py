"""What runs inside a transcription worker process: the only code that touches Vosk.

Each process loads the model once (the pool's initializer) and keeps it for every
leg it is given; loading takes seconds, recognising a minute of speech takes a few.
"""

from __future__ import annotations

import json
import os
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from pbx.audio import pcm_stream

from .dialogue import Word

# Per-process state, set by the initializer: one model per worker process is the
# point of having worker processes.
_model: Any = None
_ready: Any = None


def load_model(model_path: str, ready: Barrier) -> None:
    """Pool initializer: load the model, and keep the barrier that start-up waits on."""
    global _model, _ready
    import vosk

    vosk.SetLogLevel(-1)
    _model = vosk.Model(model_path)
    _ready = ready


def wait_ready(timeout_s: float) -> int:
    """Returns once every worker of the pool has its model loaded."""
    _ready.wait(timeout_s)
    return os.getpid()


def transcribe(path: str, sample_rate: int, channel: int | None) -> list[Word]:
    """Words of one channel of an audio file (or of the whole file mixed down)."""
    import vosk

    recognizer = vosk.KaldiRecognizer(_model, sample_rate)
    recognizer.SetWords(True)
    words: list[Word] = []
    with pcm_stream(Path(path), sample_rate, channel) as chunks:
        for chunk in chunks:
            if recognizer.AcceptWaveform(chunk):
                words += words_from_result(json.loads(recognizer.Result()))
    words += words_from_result(json.loads(recognizer.FinalResult()))
    return words


def words_from_result(result: dict[str, Any]) -> list[Word]:
    """Vosk's JSON result (with ``SetWords(True)``) → words."""
    return [
        Word(str(w["word"]), float(w["start"]), float(w["end"]), float(w.get("conf", 1.0)))
        for w in result.get("result", ())
    ]
