"""Talking to one caller over FastAGI: prompts, digits, variables, music, recording.

A thin layer over :class:`pbx.agi.AgiSession` that speaks in IVR terms (prompt
references, one digit) and times every command that plays no media, since those
round trips are what the server adds to a caller's wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from pbx.agi import AgiResult, AgiSession

from .stats import Samples

# Digits a caller may press to cut a prompt short.
ANY_DIGIT = "0123456789*#"
# Commands that play no media: their time is the AGI round trip.
_NO_MEDIA = ("GET VARIABLE", "SET VARIABLE", "CHANNEL STATUS", "GET FULL VARIABLE", "VERBOSE")

PromptResolver = Callable[[str], str]


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Dialog:
    def __init__(self, session: AgiSession, resolve: PromptResolver, rtt: Samples) -> None:
        self.session = session
        self._resolve = resolve
        self._rtt = rtt

    @property
    def env(self) -> dict[str, str]:
        return self.session.env

    async def command(self, command: str, *, timeout: float | None = None) -> AgiResult:  # noqa: ASYNC109
        if not command.startswith(_NO_MEDIA):
            return await self.session.command(command, timeout=timeout)
        started = time.perf_counter()
        result = await self.session.command(command, timeout=timeout)
        self._rtt.add((time.perf_counter() - started) * 1000)
        return result

    async def answer(self) -> None:
        await self.command("ANSWER")

    async def set_var(self, name: str, value: str) -> None:
        await self.command(f"SET VARIABLE {name} {_quote(value)}")

    async def get_var(self, name: str) -> str | None:
        result = await self.command(f"GET VARIABLE {name}")
        return result.data if result.result == "1" else None

    async def play(self, prompts: Iterable[str], escape: str = "") -> str:
        """Play prompts in turn; a digit in ``escape`` stops them and is returned."""
        for prompt in prompts:
            result = await self.command(f"STREAM FILE {self._resolve(prompt)} {_quote(escape)}")
            if result.digit:
                return result.digit
        return ""

    async def ask(self, prompts: Iterable[str], timeout_s: float) -> str:
        """Play prompts, then wait up to ``timeout_s`` for one digit ("" for none)."""
        digit = await self.play(prompts, ANY_DIGIT)
        if digit:
            return digit
        return await self.wait_digit(timeout_s)

    async def wait_digit(self, timeout_s: float) -> str:
        result = await self.command(
            f"WAIT FOR DIGIT {int(timeout_s * 1000)}", timeout=timeout_s + 30
        )
        return result.digit

    async def say_number(self, number: int, escape: str = "") -> str:
        result = await self.command(f"SAY NUMBER {number} {_quote(escape)}")
        return result.digit

    async def music(self, on: bool, moh_class: str = "default") -> None:
        await self.command(f"SET MUSIC ON {moh_class}" if on else "SET MUSIC OFF")

    async def exec(self, app: str, args: str, *, timeout: float | None = None) -> AgiResult:  # noqa: ASYNC109
        return await self.command(f"EXEC {app} {_quote(args)}", timeout=timeout)

    async def record(self, path_without_ext: str, max_s: float, silence_s: int) -> None:
        """Record to ``<path>.wav`` after a beep, until '#', silence, ``max_s`` or hang-up."""
        await self.command(
            f"RECORD FILE {path_without_ext} wav # {int(max_s * 1000)} BEEP s={silence_s}",
            timeout=max_s + 30,
        )
