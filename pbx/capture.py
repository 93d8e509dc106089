"""Record a live AMI stream to a file, and replay a recording through the tracker.

A capture is the AMI byte stream exactly as Asterisk sent it (banner, login answer,
every event), so a support engineer can send us one and we can feed it through the
same parser and tracker as production — no Asterisk and no database needed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from server.config import AmiConfig

from .ami.client import AmiAuthError
from .ami.codec import AmiDecoder, AmiMessage, encode_action
from .events import CallEnded, CallRecord, Party
from .tracker import CallTracker

__all__ = ["capture", "record_to_json", "replay"]

_CHUNK = 65536
_LOGIN_ID = "capture-login"


async def capture(
    config: AmiConfig,
    path: Path | str,
    *,
    stop: asyncio.Event | None = None,
    duration: float | None = None,
    ready: asyncio.Event | None = None,
) -> int:
    """Write the raw AMI stream to ``path`` until ``stop`` is set, ``duration`` passes,
    Asterisk closes the connection, or the task is cancelled. Returns bytes written.

    The login is checked (a wrong secret raises :class:`AmiAuthError`) and ``ready``
    is set once it is accepted: every event after that is in the file. The bytes are
    written as received, login answer included; the replay skips what is not an event.
    """
    async with asyncio.timeout(config.connect_timeout_s):
        reader, writer = await asyncio.open_connection(config.host, config.port)
    written = 0
    try:
        writer.write(
            encode_action(
                "Login",
                {
                    "Username": config.username,
                    "Secret": config.secret.get_secret_value(),
                    "Events": "on",
                },
                _LOGIN_ID,
            )
        )
        stopper = asyncio.ensure_future(stop.wait() if stop else asyncio.Event().wait())
        deadline = asyncio.get_running_loop().time() + duration if duration else None
        checker = AmiDecoder()
        logged_in = False
        # A local file written in 64 KiB pieces: blocking the loop that briefly is harmless.
        with open(path, "wb") as out:  # noqa: ASYNC230
            try:
                while True:
                    left = None
                    if deadline is not None:
                        left = deadline - asyncio.get_running_loop().time()
                        if left <= 0:
                            break
                    read = asyncio.ensure_future(reader.read(_CHUNK))
                    done, _ = await asyncio.wait(
                        {read, stopper}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                    )
                    if read not in done:
                        read.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await read
                        break
                    data = read.result()
                    if not data:
                        break
                    out.write(data)
                    written += len(data)
                    if not logged_in:
                        logged_in = _check_login(checker, data)
                        if logged_in and ready is not None:
                            ready.set()
                    if stopper.done():
                        break
            finally:
                stopper.cancel()
                out.flush()
    finally:
        writer.transport.abort()
    return written


def _check_login(decoder: AmiDecoder, data: bytes) -> bool:
    decoder.receive_data(data)
    for item in decoder.events():
        if isinstance(item, AmiMessage) and item.get("ActionID") == _LOGIN_ID:
            if item.get("Response") != "Success":
                raise AmiAuthError("Login", item)
            return True
    return False


def replay(path: Path | str) -> Iterator[dict[str, Any]]:
    """Feed a capture through the parser and tracker; yield each call as it ends.

    Raises :class:`pbx.ami.codec.AmiProtocolError` (naming the line) for input that
    is not the AMI wire format.
    """
    # Captures without timestamps get a steady fake clock, so the output never
    # depends on when the replay runs.
    ticks = iter(range(1 << 62))
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    tracker = CallTracker(clock=lambda: epoch + timedelta(milliseconds=next(ticks)))
    decoder = AmiDecoder(strict=True)
    with open(path, "rb") as f:
        while True:
            data = f.read(_CHUNK)
            decoder.receive_data(data)
            for item in decoder.events():
                if isinstance(item, AmiMessage):
                    for event in tracker.feed(item):
                        if isinstance(event, CallEnded):
                            yield record_to_json(event.record)
            if not data:
                break


def _party(p: Party) -> dict[str, str | None]:
    return {"number": p.number, "name": p.name, "channel": p.channel}


def record_to_json(record: CallRecord) -> dict[str, Any]:
    """The replay's one-line view of a finished call."""
    answered = record.answered_by
    return {
        "call_id": record.call_id,
        "caller": _party(record.caller),
        "destination": record.destination,
        "answered_by": (
            {"number": answered.number, "channel": answered.channel} if answered else None
        ),
        "disposition": record.disposition,
        "hangup_by": record.hangup_by,
        "transfers": [
            {"kind": t.kind, "by_channel": t.by_channel, "to": t.to} for t in record.transfers
        ],
    }
