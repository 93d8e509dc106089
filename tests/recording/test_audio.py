"""pbx.audio on real files: legs written like Asterisk's, merged and encoded by ffmpeg."""

from __future__ import annotations

import struct
from array import array
from pathlib import Path

import pytest

from pbx.audio import (
    CorruptAudio,
    EmptyAudio,
    MissingAudio,
    convert_prompt,
    file_facts,
    merge_legs,
    output_sample_rate,
    parse_wav_header,
    pcm_stream,
    read_wav_info,
)
from tests.recording.speech import rms, write_leg, write_wav

CUSTOMER = [(0.5, "안녕하세요 카드를 잃어버렸어요")]
AGENT = [(4.5, "네 고객님 카드 번호를 알려 주세요")]


def decode(path: Path, channel: int | None, rate: int = 8000) -> array:
    samples = array("h")
    with pcm_stream(path, rate, channel) as chunks:
        for chunk in chunks:
            samples.frombytes(chunk)
    return samples


@pytest.fixture(scope="module")
def legs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, float, float]:
    """A 4 s customer leg and a longer agent leg, each speaking in its own time."""
    d = tmp_path_factory.mktemp("legs")
    customer, agent = d / "customer.wav", d / "agent.wav"
    (c_span,) = write_leg(customer, CUSTOMER, 4.0)
    (a_span,) = write_leg(agent, AGENT, 9.0)
    assert c_span.end < 4.0 < a_span.start
    return customer, agent, c_span.end, a_span.start


@pytest.mark.parametrize("fmt", ["ogg", "mp3"])
def test_merge_puts_the_customer_left_and_the_agent_right_padded_to_the_longer_leg(
    legs: tuple[Path, Path, float, float], tmp_path: Path, fmt: str
) -> None:
    customer, agent, customer_end, agent_start = legs
    out = tmp_path / f"call.{fmt}"
    merged = merge_legs(customer, agent, out, fmt, 24)  # type: ignore[arg-type]
    assert (merged.duration_s, merged.source_rate) == (pytest.approx(9.0), 8000)
    left, right = decode(out, 0), decode(out, 1)
    assert len(left) / 8000 == pytest.approx(9.0, abs=0.15)
    # While the customer speaks, the left channel is loud and the right is not;
    # while the agent speaks, the other way round.
    assert rms(left, 0.5, customer_end) > 20 * max(rms(right, 0.5, customer_end), 1.0)
    assert rms(right, agent_start, 8.5) > 20 * max(rms(left, agent_start, 8.5), 1.0)
    assert out.stat().st_size < 9.0 * 8000 * 2 * 2 / 4, "compressed well below PCM"


def test_merge_accepts_legs_of_different_rates(tmp_path: Path) -> None:
    customer, agent = tmp_path / "c.wav", tmp_path / "a.wav"
    write_leg(customer, CUSTOMER, 4.0, rate=16000)
    write_leg(agent, AGENT, 9.0, rate=8000)
    out = tmp_path / "call.ogg"
    merged = merge_legs(customer, agent, out, "ogg", 24)
    assert (merged.duration_s, merged.source_rate) == (pytest.approx(9.0), 16000)
    left, right = decode(out, 0, 16000), decode(out, 1, 16000)
    assert rms(left, 0.6, 2.5) > 20 * max(rms(right, 0.6, 2.5), 1.0)


def test_a_leg_whose_header_was_never_finished_is_read_to_the_end_of_the_file(
    legs: tuple[Path, Path, float, float], tmp_path: Path
) -> None:
    # Asterisk fills in the RIFF and data sizes only when it closes the file.
    data = bytearray(legs[1].read_bytes())
    struct.pack_into("<I", data, 4, 0)
    struct.pack_into("<I", data, 40, 0)
    crashed = tmp_path / "crashed.wav"
    crashed.write_bytes(bytes(data))
    assert read_wav_info(crashed).duration_s == pytest.approx(9.0)
    out = tmp_path / "call.ogg"
    assert merge_legs(legs[0], crashed, out, "ogg", 24).duration_s == pytest.approx(9.0)


def test_one_empty_leg_is_silence_but_two_are_an_empty_recording(
    legs: tuple[Path, Path, float, float], tmp_path: Path
) -> None:
    silent = tmp_path / "silent.wav"
    write_wav(silent, array("h"))
    merged = merge_legs(legs[0], silent, tmp_path / "one.ogg", "ogg", 24)
    assert merged.duration_s == pytest.approx(4.0)
    with pytest.raises(EmptyAudio, match="both legs are empty"):
        merge_legs(silent, silent, tmp_path / "none.ogg", "ogg", 24)


def test_bad_legs_raise_clear_errors(tmp_path: Path, legs: tuple[Path, Path, float, float]) -> None:
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not a wav file at all" * 10)
    with pytest.raises(CorruptAudio, match=r"garbage\.wav: not a WAV file"):
        read_wav_info(garbage)
    with pytest.raises(CorruptAudio, match=r"garbage\.wav"):
        merge_legs(legs[0], garbage, tmp_path / "x.ogg", "ogg", 24)
    zero = tmp_path / "zero.wav"
    zero.write_bytes(b"")
    with pytest.raises(EmptyAudio, match=r"zero\.wav: empty file"):
        read_wav_info(zero)
    with pytest.raises(MissingAudio, match=r"nowhere\.wav: no such file"):
        merge_legs(tmp_path / "nowhere.wav", legs[1], tmp_path / "x.ogg", "ogg", 24)


def test_wav_header_parser_skips_extra_chunks_and_refuses_other_sample_formats() -> None:
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"LIST" + struct.pack("<I", 3)
    body += b"abc\x00" + b"data" + struct.pack("<I", 8) + b"\x00" * 8
    info = parse_wav_header(b"RIFF" + struct.pack("<I", len(body)) + body, 8 + len(body))
    assert (info.sample_rate, info.frames, info.data_offset) == (8000, 4, 8 + len(body) - 8)
    alaw = struct.pack("<HHIIHH", 6, 1, 8000, 8000, 1, 8)
    head = b"RIFF\x00\x00\x00\x00WAVEfmt " + struct.pack("<I", 16) + alaw + b"data\x00\x00\x00\x00"
    with pytest.raises(CorruptAudio, match="not 16-bit PCM"):
        parse_wav_header(head, len(head) + 100)


def test_encoders_get_a_rate_they_accept() -> None:
    assert output_sample_rate("ogg", 8000) == 8000
    assert output_sample_rate("ogg", 22050) == 24000
    assert output_sample_rate("mp3", 22050) == 22050
    assert output_sample_rate("ogg", 96000) == 48000


def test_an_uploaded_mp3_prompt_becomes_8khz_mono_16bit_wav(
    legs: tuple[Path, Path, float, float], tmp_path: Path
) -> None:
    stereo_mp3 = tmp_path / "upload.mp3"
    merge_legs(legs[0], legs[1], stereo_mp3, "mp3", 64)
    prompt = tmp_path / "prompt.wav"
    info = convert_prompt(stereo_mp3, prompt)
    assert (info.sample_rate, info.channels, info.sample_width) == (8000, 1, 2)
    assert info.duration_s == pytest.approx(9.0, abs=0.2)
    assert read_wav_info(prompt) == info
    assert prompt.read_bytes()[36:40] == b"data", "a plain 44-byte header"


def test_a_prompt_that_is_not_audio_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.mp3"
    bogus.write_bytes(b"<html>not audio</html>")
    with pytest.raises(CorruptAudio):
        convert_prompt(bogus, tmp_path / "out.wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(EmptyAudio):
        convert_prompt(empty, tmp_path / "out.wav")


def test_decoding_a_corrupt_file_raises_at_the_end_of_the_stream(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.ogg"
    bogus.write_bytes(b"OggS" + b"\x00" * 200)
    with pytest.raises(CorruptAudio, match=r"bogus\.ogg: cannot decode"):
        decode(bogus, 0)


def test_file_facts_are_size_and_sha256(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    facts = file_facts(path)
    assert facts.size == 3
    assert facts.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
