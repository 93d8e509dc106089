"""AMI pipeline benchmark: our parser + call tracker against panoramisk's bare parsing.

Takes captures of real call traffic (by default the fixtures recorded from the real
Asterisk in tests/pbx/captures), replicates them until there are at least --events
events — rewriting every Uniqueid/Linkedid in each replica so every call is distinct —
and feeds the same bytes, in the same 64 KiB chunks, through

1. ``pbx.ami.codec.AmiDecoder`` + ``pbx.tracker.CallTracker`` (our whole pipeline), and
2. panoramisk's ``AMIProtocol.data_received`` (UTF-8, a dispatch that does nothing).

It checks that the tracker ended exactly as many calls as the replicas contain; the
last line printed is JSON:
``{"events": N, "events_per_s": X, "baseline_events_per_s": Y, "ratio": X/Y,
"peak_rss_mb": M}``.

Usage: ``.venv/bin/python bench/ami_pipeline.py [--events 200000] [CAPTURE ...]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import resource
import sys
import time
from pathlib import Path

from panoramisk.ami_protocol import AMIProtocol

from pbx.ami.codec import AmiDecoder, AmiMessage, Banner
from pbx.capture import replay
from pbx.events import CallEnded
from pbx.tracker import CallTracker

CHUNK = 64 * 1024
DEFAULT_CAPTURES = Path(__file__).resolve().parent.parent / "tests" / "pbx" / "captures"
_ID_LINE = re.compile(rb"^(\w*(?:Uniqueid|Linkedid)): ([^\r\n]+)$", re.MULTILINE)
_BANNER = re.compile(rb"\A[^\r\n:]*Call Manager/[^\r\n]*\r?\n")


def load_base(paths: list[Path]) -> tuple[bytes, int, int]:
    """The captures joined (banners removed), their event count and their call count."""
    parts = []
    events = calls = 0
    for path in paths:
        data = _BANNER.sub(b"", path.read_bytes())
        if not data.endswith(b"\n\n") and not data.endswith(b"\r\n\r\n"):
            data += b"\r\n\r\n" if b"\r\n" in data else b"\n\n"
        parts.append(data)
        decoder = AmiDecoder()
        decoder.receive_data(data)
        decoder.receive_data(b"")
        events += sum(1 for m in decoder.events() if isinstance(m, AmiMessage) and m.event)
        calls += sum(1 for _ in replay(path))
    return b"".join(parts), events, calls


def replicate(base: bytes, copies: int) -> bytes:
    """``copies`` copies of ``base`` with every Uniqueid/Linkedid made unique per copy."""
    out = [b"Asterisk Call Manager/11.0.0\r\n"]
    for i in range(copies):
        suffix = b"-r%d" % i
        out.append(_ID_LINE.sub(lambda m, s=suffix: m[1] + b": " + m[2] + s, base))
    return b"".join(out)


def chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def run_ours(pieces: list[bytes]) -> tuple[float, int, int]:
    """Seconds, events seen, calls ended."""
    decoder = AmiDecoder()
    tracker = CallTracker()
    events = ended = 0
    start = time.perf_counter()
    for piece in pieces:
        decoder.receive_data(piece)
        for msg in decoder.events():
            if type(msg) is Banner or msg.event is None:  # type: ignore[union-attr]
                continue
            events += 1
            for out in tracker.feed(msg):  # type: ignore[arg-type]
                if type(out) is CallEnded:
                    ended += 1
    return time.perf_counter() - start, events, ended


class _NullTransport(asyncio.Transport):
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class _NoDispatch:
    save_stream = None
    forgetable_actions: tuple[str, ...] = ()
    awaiting_actions: tuple[object, ...] = ()

    def __init__(self) -> None:
        self.events = 0

    def dispatch(self, message: object) -> None:
        self.events += 1


def run_panoramisk(pieces: list[bytes]) -> tuple[float, int]:
    """Seconds and events dispatched by panoramisk's own protocol class."""
    loop = asyncio.new_event_loop()
    try:
        proto = AMIProtocol()
        proto.connection_made(_NullTransport())
        factory = _NoDispatch()
        proto.factory = factory
        proto.encoding = "utf-8"
        start = time.perf_counter()
        for piece in pieces:
            proto.data_received(piece)
        return time.perf_counter() - start, factory.events
    finally:
        loop.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("captures", nargs="*", type=Path)
    parser.add_argument("--events", type=int, default=200_000, help="at least this many")
    args = parser.parse_args(argv)
    paths = args.captures or sorted(DEFAULT_CAPTURES.glob("*.ami"))
    if not paths:
        print(f"no captures given and none in {DEFAULT_CAPTURES}", file=sys.stderr)
        return 2
    base, base_events, base_calls = load_base(paths)
    copies = -(-args.events // base_events)
    pieces = chunks(replicate(base, copies))
    expected_calls = base_calls * copies
    print(
        f"{len(paths)} captures: {base_events} events, {base_calls} calls; "
        f"{copies} replicas, {sum(map(len, pieces)) / 2**20:.1f} MiB",
        flush=True,
    )

    gc.collect()
    ours_s, events, ended = run_ours(pieces)
    gc.collect()
    base_s, base_seen = run_panoramisk(pieces)
    if ended != expected_calls:
        print(f"tracker ended {ended} calls, the replicas hold {expected_calls}", file=sys.stderr)
        return 1
    if base_seen != events:
        print(f"panoramisk saw {base_seen} events, we saw {events}", file=sys.stderr)
        return 1
    ours_rate = events / ours_s
    base_rate = events / base_s
    print(
        json.dumps(
            {
                "events": events,
                "events_per_s": round(ours_rate),
                "baseline_events_per_s": round(base_rate),
                "ratio": round(ours_rate / base_rate, 2),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
