"""IVR load benchmark: N scripted callers through the IVR of a real Asterisk 22.

Brings up its own PostgreSQL (``server.db.EmbeddedPostgres``), Asterisk (the host's or
the provisioned Debian sid one) and the server (the real app, in this process), and
drives its callers, as ``bench/_callers.py`` does. Each round starts N callers — Local
channels running the caller robot — within ``START_WINDOW_S`` seconds; each hears the
greeting and the menu, presses 1 the moment the IVR reads a digit (AMI ``PlayDTMF`` once
``AGIExecStart`` of ``WAIT FOR DIGIT`` is seen), and waits in the department's queue
with music and announcements. Once all N are queued (so N are in the IVR at once) they
hang up, and every call must be in the journal as abandoned in the queue: anything else
is a failed call. Rounds grow from 50 until one fails or the last round size; the
largest clean round is reported.

Measured on the server: the AGI round trip of commands that play no media (from
writing the command to reading its result) and answer-to-queue (from the caller's menu
digit to the interaction committed to the queue).

The last line printed is JSON: ``{"concurrent_calls": N, "agi_rtt_p50_ms": A,
"agi_rtt_p99_ms": B, "answer_to_queue_p99_ms": C, "failed_calls": F}``.

Usage, from the repository root: ``.venv/bin/python bench/ivr_load.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, bench/ comes first on the path, where bench/routing.py would shadow
# the routing package.
_ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

import asyncio  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import asyncpg  # noqa: E402
from aiohttp import web  # noqa: E402

from bench._callers import NUMBER, Callers, call_stack, ivr_menu  # noqa: E402
from ivr.keys import IVR  # noqa: E402
from routing.keys import ROUTING  # noqa: E402
from server.keys import POOL  # noqa: E402

ROUNDS = (50, 100, 150, 200, 300, 400, 500, 600)
START_WINDOW_S = 4.0
# How long a round may take to get every caller queued, and to clear afterwards.
QUEUE_TIMEOUT_S = 90.0
CLEAR_TIMEOUT_S = 90.0


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def until(check: Callable[[], Any], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.2)
    return False


async def run_round(
    size: int, callers: Callers, app: web.Application, pool: asyncpg.Pool
) -> dict[str, Any]:
    ivr = app[IVR]
    ivr.stats.agi_rtt_ms.clear()
    ivr.stats.answer_to_queue_ms.clear()
    prefix = f"+7916{size:03d}"
    pressed_before = callers.pressed
    originates = []
    for i in range(size):
        originates.append(callers.call(f"Caller <{prefix}{i:04d}>", hold_s=600))
        # Spread evenly over the start window: a crowd, not one burst of AMI actions.
        await asyncio.sleep(START_WINDOW_S / size)
    answers = await asyncio.gather(*originates)
    refused = sum(a.get("Response") != "Success" for a in answers)

    async def all_queued() -> bool:
        return len(ivr.stats.answer_to_queue_ms) >= size - refused

    queued = await until(all_queued, QUEUE_TIMEOUT_S)
    in_ivr = len(ivr.calls)
    rtt, to_queue = ivr.stats.agi_rtt_ms, ivr.stats.answer_to_queue_ms
    measured = {
        "agi_commands_timed": len(rtt),
        "agi_rtt_p50_ms": _ms(rtt.percentile(50)),
        "agi_rtt_p99_ms": _ms(rtt.percentile(99)),
        "answer_to_queue_p50_ms": _ms(to_queue.percentile(50)),
        "answer_to_queue_p99_ms": _ms(to_queue.percentile(99)),
    }
    # Everyone hangs up.
    await callers.ami.send(
        {"Action": "Hangup", "Channel": f"/^Local\\/{NUMBER}@ivr-in-.*;1$/", "Cause": "16"}
    )

    async def cleared() -> bool:
        async with pool.acquire() as conn:
            open_calls = await conn.fetchval(
                "SELECT count(*) FROM ivr_calls WHERE caller_number LIKE $1 || '%' "
                "AND outcome IS NULL",
                prefix,
            )
        return open_calls == 0 and len(ivr.calls) == 0

    await until(cleared, CLEAR_TIMEOUT_S)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT coalesce(outcome, 'open') AS outcome, count(*) AS n FROM ivr_calls "
            "WHERE caller_number LIKE $1 || '%' GROUP BY 1",
            prefix,
        )
    outcomes = {r["outcome"]: r["n"] for r in rows}
    failed = size - outcomes.get("abandoned_in_queue", 0)
    return {
        "size": size,
        "queued_in_time": queued,
        "in_ivr_at_once": in_ivr,
        "refused_originates": refused,
        "digits_sent": callers.pressed - pressed_before,
        **measured,
        # Every call should be abandoned_in_queue; the others (and those the IVR never
        # saw) are the failed ones.
        "outcomes": outcomes,
        "failed_calls": failed,
    }


async def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    async with call_stack("ivr-bench-", timers={"announce_period_s": 5.0}) as stack:
        app = stack.app
        pool = app[POOL]
        async with pool.acquire() as conn:
            view = await app[ROUTING].admin.create_department(conn, "bench")
        await app[IVR].menus.put(NUMBER, ivr_menu(view.department.id))
        callers = await Callers.connect(stack.asterisk.settings)
        try:
            print(f"asterisk {stack.asterisk.install!r}, 2 cores; rounds {ROUNDS}", flush=True)
            best: dict[str, Any] | None = None
            first: dict[str, Any] | None = None
            for size in ROUNDS:
                result = await run_round(size, callers, app, pool)
                print(json.dumps(result), flush=True)
                first = first or result
                if result["failed_calls"]:
                    break
                best = result
        finally:
            await callers.close()
    chosen = best or first
    assert chosen is not None
    print(
        json.dumps(
            {
                "concurrent_calls": chosen["size"],
                "agi_rtt_p50_ms": chosen["agi_rtt_p50_ms"],
                "agi_rtt_p99_ms": chosen["agi_rtt_p99_ms"],
                "answer_to_queue_p99_ms": chosen["answer_to_queue_p99_ms"],
                "failed_calls": chosen["failed_calls"],
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
