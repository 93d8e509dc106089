"""Synthetic speech for recording tests and the transcription benchmark: Korean
sentences spoken by espeak-ng, resampled by sox to what Asterisk records (8 kHz,
mono, 16-bit), placed at known moments of a leg so tests know where speech is."""

from __future__ import annotations

import subprocess
import tempfile
import wave
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

RATE = 8000
# Samples quieter than this (of 32767) are silence when finding where speech is.
_SILENCE = 300


@dataclass(frozen=True)
class Span:
    start: float
    end: float


def synthesize(
    text: str, rate: int = RATE, speed: int = 160, pitch: int = 50, voice: str = "ko"
) -> array:
    """One sentence as 16-bit mono samples at ``rate`` (``voice``: ko, ko+f2, ...)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = Path(tmp) / "espeak.wav", Path(tmp) / "speech.raw"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw), text],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["sox", str(raw), "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed", str(out)],
            check=True,
            capture_output=True,
        )
        samples = array("h")
        samples.frombytes(out.read_bytes())
    return samples


def write_leg(
    path: Path, phrases: Sequence[tuple[float, str]], length_s: float, rate: int = RATE
) -> list[Span]:
    """A leg of ``length_s`` seconds with each text spoken at its offset; returns where
    speech actually is (espeak pads its clips with silence of its own)."""
    leg = array("h", bytes(2 * int(length_s * rate)))
    spans = []
    for offset, text in phrases:
        clip = synthesize(text, rate)
        at = int(offset * rate)
        if at + len(clip) > len(leg):
            raise ValueError(f"{text!r} at {offset}s does not fit in {length_s}s")
        leg[at : at + len(clip)] = clip
        loud = [i for i, s in enumerate(clip) if abs(s) > _SILENCE]
        spans.append(Span((at + loud[0]) / rate, (at + loud[-1]) / rate))
    write_wav(path, leg, rate)
    return spans


def write_wav(path: Path, samples: array, rate: int = RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def rms(samples: array, start_s: float, end_s: float, rate: int = RATE) -> float:
    window = samples[int(start_s * rate) : int(end_s * rate)]
    if not window:
        return 0.0
    return (sum(s * s for s in window) / len(window)) ** 0.5
