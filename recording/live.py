"""Recording of calls as they happen: MixMonitor on the agent's channel when the call
is answered, the recording finished when it ends, and pause/resume meanwhile.

A bus consumer of pbx's call events (and of routing's offers, for the department and
customer of a call). The bus delivers events one at a time, so each handler only
notes what it needs and leaves AMI and database work to a task of that call; the
end of a call waits for the start of its recordings, never the other way round.

A call transferred to another agent gets one recording more, on the new agent's
channel, linked to the same call (same call id and start): each recording is one
agent's conversation with the customer, customer left and agent right as always. The
new channel is found from AMI bridge events (:mod:`recording.transfers`), since pbx
reports an answer once a call. A transfer to a phone that is not an agent's (an
outside number) starts no recording. Every recording of a call is finished when the
call ends.

A click-to-call through a Local channel (originate the agent's phone, then dial the
number) is answered twice as pbx sees it: first the agent's phone, as if it were
called, then the number, once the Local channel dials it and the agent's phone turns
out to be the caller. A recording the first answer started is discarded, and the
call is recorded from the second on, as the outbound call it is.
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
from pbx.ami.codec import AmiMessage
from pbx.events import CallAnswered, CallEnded, CallStarted, CallTransferred, Direction, Party
from routing.events import OfferMade

from . import repository
from .access import Scope
from .config import RecordingConfig
from .contexts import CallContext, CallContexts
from .mixmonitor import RECORDING_VARIABLE, mute_fields, start_fields
from .repository import Recording
from .services import RecordingService
from .sides import AgentSide, agent_side, candidate_endpoints
from .transfers import BridgedChannel, BridgedChannels

__all__ = [
    "ControlFailed",
    "LiveRecorder",
    "LiveRecording",
    "NotOnThisCall",
    "NotRecording",
]

log = logging.getLogger("recording.live")

Subscribe = Callable[[type, Callable[[Any], Any]], Callable[[], None]]

# How long a new agent's channel, bridged with an attended transfer's consultation, is
# given to move to the customer's bridge (Asterisk 22 does it within a second).
_SETTLE_S = 3.0


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
    # What a recording after a transfer inherits.
    direction: Direction = "inbound"
    call_started_at: datetime | None = None
    context: CallContext | None = None
    # The bridge the agent talks to the customer in (None: not known yet), and whether
    # the agent is in another one now (consulting a colleague before a transfer).
    home_bridge: str | None = None
    consulting: bool = False


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
        # The first party that answered each call (a second answer: click-to-call).
        self._answered_by: dict[str, Party] = {}
        self._starting: dict[str, list[asyncio.Task[None]]] = {}
        # The recording running for a call (the one pause/resume acts on), and those
        # of the agents before a transfer, finished with it at the end of the call.
        self._active: dict[str, LiveRecording] = {}
        self._earlier: dict[str, list[LiveRecording]] = {}
        # A transferred call whose new agent is not recorded yet: the agent's endpoint.
        self._awaiting: dict[str, str] = {}
        self._bridged = BridgedChannels()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: list[Callable[[], None]] = []

    def subscribe(self, subscribe: Subscribe) -> None:
        self._unsubscribe = [
            subscribe(CallStarted, self.on_call_started),
            subscribe(OfferMade, self.on_offer_made),
            subscribe(CallAnswered, self.on_call_answered),
            subscribe(CallTransferred, self.on_call_transferred),
            subscribe(CallEnded, self.on_call_ended),
            self._ami.subscribe(self.on_ami_event),
            self._ami.on_connection_change(self.on_ami_connection),
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
        call_id = event.call_id
        call = self._calls.get(call_id)
        first = self._answered_by.setdefault(call_id, event.party)
        superseded: list[asyncio.Task[None]] | None = None
        if first.channel != event.party.channel:
            # pbx answers a call a second time only when an originated Local channel
            # dials on (click-to-call): the phone that answered first is the caller.
            call = _Call(first, call.started_at if call is not None else event.at)
            self._calls[call_id] = call
            superseded = list(self._starting.get(call_id, ()))
        context = self._contexts.get(call_id)
        task = self._spawn(
            self._start(event, call, context, superseded), f"recording-start-{call_id}"
        )
        self._starting.setdefault(call_id, []).append(task)

    def on_call_transferred(self, event: CallTransferred) -> None:
        call_id, target = event.call_id, event.transfer.to
        if target and (call_id in self._active or call_id in self._starting):
            self._spawn(self._after_transfer(call_id, target), f"recording-transfer-{call_id}")

    def on_ami_event(self, msg: AmiMessage) -> None:
        entered = self._bridged.feed(msg)
        if entered is None:
            return
        if self._awaiting.get(entered.call_id) == entered.endpoint:
            self._follow(entered, settled=True)
        live = self._active.get(entered.call_id)
        if live is not None and live.channel == entered.channel:
            self._moved(live, entered)

    def on_ami_connection(self, connected: bool) -> None:
        if not connected:
            self._bridged.clear()

    def on_call_ended(self, event: CallEnded) -> None:
        call_id = event.call_id
        self._calls.pop(call_id, None)
        self._answered_by.pop(call_id, None)
        self._awaiting.pop(call_id, None)
        self._contexts.forget(call_id)
        starting = self._starting.pop(call_id, [])
        if starting or call_id in self._active:
            self._spawn(self._finish(event, starting), f"recording-finish-{call_id}")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- the work --

    async def _start(
        self,
        event: CallAnswered,
        call: _Call | None,
        context: CallContext | None,
        superseded: list[asyncio.Task[None]] | None = None,
    ) -> None:
        extra = {"call_id": event.call_id}
        try:
            if superseded is not None:
                if superseded:
                    await asyncio.wait(superseded)
                earlier = self._active.pop(event.call_id, None)
                if earlier is not None:
                    await self._discard(earlier)
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
                    rec.id,
                    event.call_id,
                    side.channel,
                    side.agent_endpoints,
                    direction=side.direction,
                    call_started_at=started_at,
                    context=context,
                    home_bridge=self._bridged.bridge_of(side.channel),
                )
        except Exception:
            # One call's recording failing must not stop the others'.
            log.exception("recording could not start", extra=extra)

    async def _discard(self, live: LiveRecording) -> None:
        """Stop and drop a recording that turned out to be of no conversation (the
        agent's own phone answering a click-to-call)."""
        extra = {"call_id": live.call_id, "recording_id": live.recording_id}
        try:
            await self._ami.send_action("StopMixMonitor", {"Channel": live.channel})
            await self._ami.send_action(
                "Setvar", {"Channel": live.channel, "Variable": RECORDING_VARIABLE, "Value": ""}
            )
        except (AmiError, AmiNotConnected, TimeoutError) as exc:
            log.warning("recording not stopped on %s: %s", live.channel, exc, extra=extra)
        await self._recordings.discard(live.recording_id)
        log.info("recording of the agent's phone answering a click-to-call dropped", extra=extra)

    async def _after_transfer(self, call_id: str, target: str) -> None:
        """Wait for the new agent's channel in a bridge, unless it is there already."""
        starting = self._starting.get(call_id)
        if starting:
            await asyncio.wait(list(starting))
        live = self._active.get(call_id)
        if live is None:
            return
        self._awaiting[call_id] = target
        for channel in self._bridged.bridged(call_id, target):
            if channel.channel != live.channel:
                # Bridged before the transfer was done: with the consultation of an
                # attended transfer, the customer's bridge is where it goes next.
                self._follow(channel, settled=False)
                return

    def _follow(self, channel: BridgedChannel, *, settled: bool) -> None:
        """Record the new agent of a transferred call, once. ``settled``: the channel
        just entered the bridge where it talks to the customer."""
        if self._awaiting.pop(channel.call_id, None) != channel.endpoint:
            return
        task = self._spawn(
            self._start_after_transfer(channel, channel.bridge if settled else None),
            f"recording-follow-{channel.call_id}",
        )
        self._starting.setdefault(channel.call_id, []).append(task)

    async def _start_after_transfer(self, channel: BridgedChannel, home: str | None) -> None:
        call_id = channel.call_id
        extra = {"call_id": call_id}
        try:
            previous = self._active.get(call_id)
            if previous is None or previous.call_started_at is None:
                return
            async with self._pool.acquire() as conn:
                agents = await repository.agent_endpoints(conn, [channel.endpoint])
            if channel.endpoint not in agents:
                log.info(
                    "transferred to %s, not an agent: not recorded", channel.endpoint, extra=extra
                )
                return
            side = AgentSide(
                previous.direction, channel.channel, channel.endpoint, frozenset({channel.endpoint})
            )
            now_in = self._bridged.bridge_of(channel.channel)
            if home is None and now_in is not None and now_in != channel.bridge:
                # It moved on to the customer's bridge while we looked it up.
                home = now_in
            rec = await self._begin(call_id, side, previous.call_started_at, previous.context)
            if rec is None:
                return
            self._earlier.setdefault(call_id, []).append(previous)
            live = LiveRecording(
                rec.id,
                call_id,
                side.channel,
                side.agent_endpoints,
                direction=side.direction,
                call_started_at=previous.call_started_at,
                context=previous.context,
                home_bridge=home,
                # Not with the customer yet: an attended transfer's bridges are merged
                # and the Local channel of the consultation optimised away, and
                # meanwhile the agent's own voice loops back through it. Silent on
                # the customer's side until the channel settles.
                consulting=home is None,
            )
            self._active[call_id] = live
            if home is None:
                await self._mute_customer(live, True)
                self._spawn(self._settled_anyway(live), f"recording-settle-{call_id}")
            log.info(
                "recording after a transfer follows=%d",
                previous.recording_id,
                extra={**extra, "recording_id": rec.id},
            )
        except Exception:
            log.exception("recording after a transfer could not start", extra=extra)

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

    def _moved(self, live: LiveRecording, entered: BridgedChannel) -> None:
        """The recorded agent's channel entered a bridge: the one where the customer is
        (first seen, taken there in place of a Local channel, or back from a
        consultation), or another (a consultation, whose colleague must not be heard as
        the customer: that side is silent meanwhile)."""
        bridge = entered.bridge
        if live.home_bridge is None or entered.swapped:
            self._active[live.call_id] = replace(live, home_bridge=bridge, consulting=False)
            if live.consulting and not live.paused:
                self._spawn(self._mute_customer(live, False), f"recording-settled-{live.call_id}")
            return
        consulting = bridge != live.home_bridge
        if consulting == live.consulting:
            return
        self._active[live.call_id] = replace(live, consulting=consulting)
        if not live.paused:
            self._spawn(self._mute_customer(live, consulting), f"recording-consult-{live.call_id}")

    async def _settled_anyway(self, live: LiveRecording) -> None:
        """A transferred call whose Local channel is not optimised away never moves the
        new agent's channel: after a while its customer's side is recorded all the same."""
        await asyncio.sleep(_SETTLE_S)
        current = self._active.get(live.call_id)
        if current is None or current.recording_id != live.recording_id:
            return
        if current.home_bridge is None and current.consulting:
            self._active[live.call_id] = replace(current, consulting=False)
            if not current.paused:
                await self._mute_customer(current, False)

    async def _mute_customer(self, live: LiveRecording, muted: bool) -> None:
        extra = {"call_id": live.call_id, "recording_id": live.recording_id}
        try:
            await self._ami.send_action(
                "MixMonitorMute", mute_fields(live.channel, muted, "customer")
            )
        except (AmiError, AmiNotConnected, TimeoutError) as exc:
            log.warning(
                "customer's side not %s: %s", "muted" if muted else "unmuted", exc, extra=extra
            )
            return
        # Away from the customer (a consultation, a transfer settling) or back.
        log.info(
            "the customer's side %s channel=%s",
            "silent: the agent is not with the customer" if muted else "recorded again",
            live.channel,
            extra=extra,
        )

    async def _finish(self, event: CallEnded, starting: list[asyncio.Task[None]]) -> None:
        if starting:
            await asyncio.wait(starting)
        recordings = self._earlier.pop(event.call_id, [])
        live = self._active.pop(event.call_id, None)
        if live is not None:
            recordings.append(live)
        for rec in recordings:
            try:
                await self._recordings.finish(rec.recording_id, event.record.ended_at)
            except Exception:
                # The legs stay on disk with the end time noted (or not): recovery
                # converts them.
                log.exception(
                    "recording could not be finished; recovery will",
                    extra={"call_id": event.call_id, "recording_id": rec.recording_id},
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
            if not paused and live.consulting:
                # Resumed during a consultation: the customer's side stays silent.
                await self._ami.send_action(
                    "MixMonitorMute", mute_fields(live.channel, True, "customer")
                )
        except (AmiError, AmiNotConnected, TimeoutError) as exc:
            raise ControlFailed(str(exc)) from exc
        current = self._active.get(call_id)
        if current is not None and current.recording_id == live.recording_id:
            self._active[call_id] = replace(current, paused=paused)
        live = replace(live, paused=paused)
        # Who stopped the recording of part of a call is a compliance question.
        log.info(
            "recording %s by=%s",
            "paused" if paused else "resumed",
            actor,
            extra={"call_id": call_id, "recording_id": live.recording_id},
        )
        return live
