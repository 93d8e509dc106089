"""Audio files to and from what Asterisk records and plays, through ffmpeg.

Asterisk's MixMonitor writes each leg as a PCM WAV file (8 kHz, mono, 16-bit unless
the channel is wideband) and fills in the header's sizes only when it closes the
file: a leg left behind by a crash says "0 bytes of audio" in its header while the
audio is on disk. So legs are read with our own header parser and handed to ffmpeg
as raw PCM, which trusts the file's length rather than the header.

Every function here is blocking (ffmpeg runs as a subprocess); async callers use
``asyncio.to_thread``. Bad input raises a subclass of :class:`AudioError` whose
message is fit to store as a failure reason.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "PROMPT_SAMPLE_RATE",
    "AudioError",
    "CorruptAudio",
    "EmptyAudio",
    "FileFacts",
    "Merged",
    "MissingAudio",
    "OutputFormat",
    "WavInfo",
    "convert_prompt",
    "file_facts",
    "merge_legs",
    "output_sample_rate",
    "parse_wav_header",
    "pcm_stream",
    "read_wav_info",
]

OutputFormat = Literal["ogg", "mp3"]

# What Asterisk plays without transcoding: signed linear, 8 kHz, mono.
PROMPT_SAMPLE_RATE = 8000

# The rates each encoder accepts; anything else is resampled up to the next one.
_ENCODER_RATES: dict[OutputFormat, tuple[int, ...]] = {
    "ogg": (8000, 12000, 16000, 24000, 48000),
    "mp3": (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
}
_ENCODER_ARGS: dict[OutputFormat, tuple[str, ...]] = {
    "ogg": ("-c:a", "libopus", "-application", "voip", "-f", "ogg"),
    "mp3": ("-c:a", "libmp3lame", "-f", "mp3"),
}
_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
_HEADER_SCAN_LIMIT = 1 << 16
_STDERR_TAIL = 300
_PCM_CHUNK = 1 << 15


class AudioError(Exception):
    """Audio we cannot use; the message says why."""


class MissingAudio(AudioError):
    """The file is not there."""


class EmptyAudio(AudioError):
    """The file holds no audio at all."""


class CorruptAudio(AudioError):
    """The file is not audio we can read."""


@dataclass(frozen=True)
class WavInfo:
    """A PCM WAV file: its format and where its samples are."""

    sample_rate: int
    channels: int
    sample_width: int  # bytes per sample
    data_offset: int
    data_bytes: int

    @property
    def frames(self) -> int:
        return self.data_bytes // (self.sample_width * self.channels)

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


@dataclass(frozen=True)
class Merged:
    duration_s: float
    source_rate: int  # the legs' rate (the higher one), before any resampling


@dataclass(frozen=True)
class FileFacts:
    size: int
    sha256: str


def parse_wav_header(head: bytes, file_size: int) -> WavInfo:
    """Read a RIFF/WAVE header from the first bytes of a file of ``file_size`` bytes.

    A data chunk whose declared size is 0 or runs past the end of the file (a leg
    whose writer never closed it) is taken to extend to the end of the file.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise CorruptAudio("not a WAV file (no RIFF/WAVE header)")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while pos + 8 <= len(head):
        chunk_id = head[pos : pos + 4]
        (chunk_size,) = struct.unpack_from("<I", head, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt ":
            if chunk_size < 16 or body + 16 > len(head):
                raise CorruptAudio("WAV fmt chunk is truncated")
            tag, channels, rate, _byte_rate, _block_align, bits = struct.unpack_from(
                "<HHIIHH", head, body
            )
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise CorruptAudio("WAV data chunk comes before its fmt chunk")
            return _wav_info(fmt, body, chunk_size, file_size)
        # Chunks are padded to an even length.
        pos = body + chunk_size + (chunk_size & 1)
    raise CorruptAudio("WAV file has no data chunk")


def _wav_info(
    fmt: tuple[int, int, int, int], data_offset: int, declared: int, file_size: int
) -> WavInfo:
    tag, channels, rate, bits = fmt
    if tag not in (_WAVE_FORMAT_PCM, _WAVE_FORMAT_EXTENSIBLE) or bits != 16:
        raise CorruptAudio(f"WAV is not 16-bit PCM (format {tag:#x}, {bits} bits)")
    if channels < 1 or rate < 1000:
        raise CorruptAudio(f"WAV format is implausible ({channels} channels, {rate} Hz)")
    available = max(file_size - data_offset, 0)
    data_bytes = available if declared == 0 or declared > available else declared
    block = 2 * channels
    return WavInfo(rate, channels, 2, data_offset, data_bytes - data_bytes % block)


def read_wav_info(path: Path) -> WavInfo:
    """The format of a PCM WAV leg; raises if it is missing, corrupt or empty."""
    try:
        with path.open("rb") as f:
            head = f.read(_HEADER_SCAN_LIMIT)
            size = f.seek(0, 2)
    except FileNotFoundError:
        raise MissingAudio(f"{path.name}: no such file") from None
    if size == 0:
        raise EmptyAudio(f"{path.name}: empty file")
    try:
        info = parse_wav_header(head, size)
    except CorruptAudio as exc:
        raise CorruptAudio(f"{path.name}: {exc}") from None
    if info.frames == 0:
        raise EmptyAudio(f"{path.name}: no audio in the file")
    return info


def output_sample_rate(fmt: OutputFormat, source_rate: int) -> int:
    """The lowest rate the encoder accepts that keeps all of the source's bandwidth."""
    rates = _ENCODER_RATES[fmt]
    return next((r for r in rates if r >= source_rate), rates[-1])


def merge_legs(left: Path, right: Path, out: Path, fmt: OutputFormat, bitrate_kbps: int) -> Merged:
    """Two legs → one stereo file, ``left`` on the left channel.

    The shorter leg is padded with silence; legs of different rates are resampled to
    the higher one. A leg that is empty is silence, but two empty legs are an error.
    """
    infos: list[WavInfo | None] = []
    for leg in (left, right):
        try:
            infos.append(read_wav_info(leg))
        except EmptyAudio:
            infos.append(None)
    present = [i for i in infos if i is not None]
    if not present:
        raise EmptyAudio("both legs are empty")
    duration = max(i.duration_s for i in present)
    source_rate = max(i.sample_rate for i in present)
    rate = output_sample_rate(fmt, source_rate)
    args: list[str] = []
    for leg, info in zip((left, right), infos, strict=True):
        if info is None:
            args += ["-f", "lavfi", "-i", f"anullsrc=r={rate}:cl=mono"]
        else:
            args += _raw_input(leg, info)
    graph = (
        f"[0:a]aformat=channel_layouts=mono,aresample={rate},apad[l];"
        f"[1:a]aformat=channel_layouts=mono,aresample={rate},apad[r];"
        "[l][r]join=inputs=2:channel_layout=stereo[out]"
    )
    _ffmpeg(
        *args,
        "-filter_complex", graph,
        "-map", "[out]",
        "-t", f"{duration:.6f}",
        "-ar", str(rate),
        "-b:a", f"{bitrate_kbps}k",
        *_ENCODER_ARGS[fmt],
        str(out),
    )  # fmt: skip
    return Merged(duration, source_rate)


def _raw_input(path: Path, info: WavInfo) -> list[str]:
    # Raw PCM from the data offset, so a header with wrong sizes does not matter.
    return [
        "-f", "s16le",
        "-ar", str(info.sample_rate),
        "-ac", str(info.channels),
        "-skip_initial_bytes", str(info.data_offset),
        "-i", str(path),
    ]  # fmt: skip


@contextmanager
def pcm_stream(
    path: Path, sample_rate: int, channel: int | None = None
) -> Iterator[Iterator[bytes]]:
    """Decode any audio file to 16-bit mono PCM at ``sample_rate``, in chunks.

    ``channel`` picks one channel of a multi-channel file (0 = left); ``None`` mixes
    all channels down. The iterator raises at its end if ffmpeg could not decode
    the file, or if it held no audio.
    """
    if not path.exists():
        raise MissingAudio(f"{path.name}: no such file")
    mix = ["-ac", "1"] if channel is None else ["-af", f"pan=mono|c0=c{channel}"]
    proc = subprocess.Popen(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
         *mix, "-ar", str(sample_rate), "-f", "s16le", "-c:a", "pcm_s16le", "pipe:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip

    def chunks() -> Iterator[bytes]:
        assert proc.stdout is not None and proc.stderr is not None
        total = 0
        while chunk := proc.stdout.read(_PCM_CHUNK):
            total += len(chunk)
            yield chunk
        stderr = proc.stderr.read()
        if proc.wait() != 0:
            raise CorruptAudio(f"{path.name}: cannot decode: {_tail(stderr)}")
        if total == 0:
            raise EmptyAudio(f"{path.name}: no audio in the file")

    try:
        yield chunks()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def convert_prompt(source: Path, out: Path) -> WavInfo:
    """An uploaded WAV/MP3 (or anything ffmpeg reads) → 8 kHz mono 16-bit WAV."""
    if not source.exists():
        raise MissingAudio(f"{source.name}: no such file")
    if source.stat().st_size == 0:
        raise EmptyAudio(f"{source.name}: empty file")
    _ffmpeg(
        "-i", str(source),
        "-map", "0:a:0",
        "-ac", "1",
        "-ar", str(PROMPT_SAMPLE_RATE),
        "-c:a", "pcm_s16le",
        # No LIST/INFO chunk: a plain header every reader (and Asterisk) understands.
        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
        "-f", "wav",
        str(out),
    )  # fmt: skip
    try:
        return read_wav_info(out)
    except EmptyAudio:
        out.unlink(missing_ok=True)
        raise EmptyAudio(f"{source.name}: no audio in the file") from None


def file_facts(path: Path) -> FileFacts:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
    return FileFacts(size, digest.hexdigest())


def _ffmpeg(*args: str) -> None:
    result = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise CorruptAudio(f"ffmpeg failed: {_tail(result.stderr)}")


def _tail(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip().replace("\n", " | ")
    return text[-_STDERR_TAIL:] or "no message"
