"""Recording of calls as they happen: MixMonitor on the agent's channel when the call
is answered, the recording finished when it ends, and pause/resume meanwhile.

A bus consumer of pbx's call events (and of routing's offers, for the department and
customer of a call). The bus delivers events one at a time, so each handler only
notes what it needs and leaves AMI and database work to a task of that call; the
end of a call waits for the start of its recording, never the other way round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from pbx.ami.client import AmiClient, AmiError, AmiNotConnected
from pbx.events import CallAnswered, CallEnded, CallStarted, Party
from routing.events import OfferMade

from . import repository
from .access import Scope
from .config import RecordingConfig
from .contexts import CallContext, CallContexts
from .mixmonitor import RECORDING_VARIABLE, mute_fields, start_fields
from .repository import Recording
from .services import RecordingService
from .sides import AgentSide, agent_side, candidate_endpoints

__all__ = [
    "ControlFailed",
    "LiveRecorder",
    "LiveRecording",
    "NotOnThisCall",
    "NotRecording",
]

log = logging.getLogger("recording.live")

Subscribe = Callable[[type, Callable[[Any], Any]], Callable[[], None]]


class NotRecording(LookupError):
    """No recording is running for that call (here: another process may own it)."""


class NotOnThisCall(PermissionError):
    """An operator asked to control the recording of a call their phone is not on."""


class ControlFailed(RuntimeError):
    """Asterisk did not carry out a pause or resume."""


@dataclass(frozen=True)
class LiveRecording:
    recording_id: int
    call_id: str
    channel: str
    agent_endpoints: frozenset[str]
    paused: bool = False


@dataclass(frozen=True)
class _Call:
    caller: Party
    started_at: datetime


class LiveRecorder:
    def __init__(
        self,
        recordings: RecordingService,
        ami: AmiClient,
        pool: asyncpg.Pool,
        config: RecordingConfig,
        contexts: CallContexts | None = None,
    ) -> None:
        self._recordings = recordings
        self._ami = ami
        self._pool = pool
        self._config = config
        self._contexts = contexts or CallContexts()
        self._calls: dict[str, _Call] = {}
        self._starting: dict[str, asyncio.Task[None]] = {}
        self._active: dict[str, LiveRecording] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: list[Callable[[], None]] = []

    def subscribe(self, subscribe: Subscribe) -> None:
        self._unsubscribe = [
            subscribe(CallStarted, self.on_call_started),
            subscribe(OfferMade, self.on_offer_made),
            subscribe(CallAnswered, self.on_call_answered),
            subscribe(CallEnded, self.on_call_ended),
        ]

    async def close(self) -> None:
        """Stop listening and drop work in flight: a recording cut short here is
        finished by recovery (its legs stay until it is converted)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- bus handlers: note, and hand the work to the call's task --

    def on_call_started(self, event: CallStarted) -> None:
        self._calls[event.call_id] = _Call(event.caller, event.at)

    def on_offer_made(self, event: OfferMade) -> None:
        call_id = dict(event.external_refs).get("call_id")
        if call_id:
            context = CallContext(
                event.department_id, event.customer_id, event.interaction_id, event.at
            )
            self._contexts.note(call_id, context)

    def on_call_answered(self, event: CallAnswered) -> None:
        call = self._calls.get(event.call_id)
        context = self._contexts.get(event.call_id)
        task = self._spawn(self._start(event, call, context), f"recording-start-{event.call_id}")
        self._starting[event.call_id] = task

    def on_call_ended(self, event: CallEnded) -> None:
        self._calls.pop(event.call_id, None)
        self._contexts.forget(event.call_id)
        starting = self._starting.pop(event.call_id, None)
        if starting is not None or event.call_id in self._active:
            self._spawn(self._finish(event, starting), f"recording-finish-{event.call_id}")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- the work --

    async def _start(
        self, event: CallAnswered, call: _Call | None, context: CallContext | None
    ) -> None:
        extra = {"call_id": event.call_id}
        try:
            caller = call.caller if call is not None else None
            async with self._pool.acquire() as conn:
                agents = await repository.agent_endpoints(
                    conn, candidate_endpoints(caller, event.party)
                )
            side = agent_side(caller, event.party, agents)
            if side is None:
                return
            department_id = context.department_id if context is not None else None
            if not self._config.should_record(side.direction, department_id).record:
                log.info(
                    "call not recorded by policy direction=%s department_id=%s",
                    side.direction,
                    department_id,
                    extra=extra,
                )
                return
            # CallStarted always comes first; without it (subscribed mid-call) the
            # answer is the best date there is, and the journal row will not match it.
            started_at = call.started_at if call is not None else event.at
            rec = await self._adopt(event.call_id, side, started_at)
            if rec is None:
                rec = await self._begin(event.call_id, side, started_at, context)
            if rec is not None:
                self._active[event.call_id] = LiveRecording(
                    rec.id, event.call_id, side.channel, side.agent_endpoints
                )
        except Exception:
            # One call's recording failing must not stop the others'.
            log.exception("recording could not start", extra=extra)

    async def _adopt(self, call_id: str, side: AgentSide, started_at: datetime) -> Recording | None:
        """The recording a previous server process started on this channel, if it is
        still running (a restarted server finds calls in progress and sees them answered)."""
        try:
            answer = await self._ami.send_action(
                "Getvar", {"Channel": side.channel, "Variable": RECORDING_VARIABLE}
            )
        except (AmiError, AmiNotConnected, TimeoutError):
            return None
        value = answer.get("Value") or ""
        if not value.isdigit():
            return None
        rec = await self._recordings.adopt(int(value), call_id, started_at)
        if rec is not None:
            log.info(
                "recording in progress taken over",
                extra={"call_id": call_id, "recording_id": rec.id},
            )
        return rec

    async def _begin(
        self, call_id: str, side: AgentSide, started_at: datetime, context: CallContext | None
    ) -> Recording | None:
        rec = await self._recordings.begin(
            call_id,
            context.department_id if context is not None else None,
            call_started_at=started_at,
            customer_id=context.customer_id if context is not None else None,
        )
        extra = {"call_id": call_id, "recording_id": rec.id}
        try:
            await self._ami.send_action(
                "MixMonitor", start_fields(side.channel, rec.customer_leg, rec.agent_leg)
            )
        except (AmiError, AmiNotConnected) as exc:
            await self._recordings.abort(rec, f"MixMonitor did not start: {exc}")
            return None
        except TimeoutError:
            # It may have started all the same: the legs on disk at the hang-up decide.
            log.warning("no answer to MixMonitor on %s", side.channel, extra=extra)
            return rec
        try:
            await self._ami.send_action(
                "Setvar",
                {"Channel": side.channel, "Variable": RECORDING_VARIABLE, "Value": str(rec.id)},
            )
        except (AmiError, AmiNotConnected, TimeoutError) as exc:
            # Only a server restarted during this call would miss it (and record anew).
            log.warning("recording id not set on the channel: %s", exc, extra=extra)
        log.info(
            "recording started channel=%s direction=%s",
            side.channel,
            side.direction,
            extra=extra,
        )
        return rec

    async def _finish(self, event: CallEnded, starting: asyncio.Task[None] | None) -> None:
        if starting is not None:
            await asyncio.wait([starting])
        live = self._active.pop(event.call_id, None)
        if live is None:
            return
        try:
            await self._recordings.finish(live.recording_id, event.record.ended_at)
        except Exception:
            # The legs stay on disk with the end time noted (or not): recovery converts them.
            log.exception(
                "recording could not be finished; recovery will",
                extra={"call_id": event.call_id, "recording_id": live.recording_id},
            )

    # -- the operator's controls --

    async def set_paused(
        self, call_id: str, paused: bool, scope: Scope, actor: str
    ) -> LiveRecording:
        """Pause (card numbers) or resume the recording of a call in progress.

        Operators control only calls their phone is on; supervisors and admins any.
        While paused, both legs get silence, so the recording keeps the call's timing.
        """
        live = self._active.get(call_id)
        if live is None:
            raise NotRecording(call_id)
        if not scope.everything and scope.endpoint not in live.agent_endpoints:
            raise NotOnThisCall(call_id)
        try:
            await self._ami.send_action("MixMonitorMute", mute_fields(live.channel, paused))
        except (AmiError, AmiNotConnected, TimeoutError) as exc:
            raise ControlFailed(str(exc)) from exc
        live = replace(live, paused=paused)
        if call_id in self._active:
            self._active[call_id] = live
        # Who stopped the recording of part of a call is a compliance question.
        log.info(
            "recording %s by=%s",
            "paused" if paused else "resumed",
            actor,
            extra={"call_id": call_id, "recording_id": live.recording_id},
        )
        return live
