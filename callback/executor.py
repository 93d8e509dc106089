"""Carrying out callbacks: ring the agent first, dial the visitor once the agent answers,
settle each attempt from Asterisk's word — also after a restart.

- Routing's ``OfferMade`` for a ``callback`` interaction (a widget's request, or the
  IVR's "press 1", adopted here) rings the offered agent's phone: an AMI Originate of
  a Local pair whose second half Dials the phone (``callback-agent``), so the call
  tracker sees the agent's phone ring and the workspace's screen-pop shows the card.
  No answer (or busy, or AMI down): the offer is declined, routing offers the next
  agent and the interaction keeps its place. An offer withdrawn while the phone rings
  (the visitor cancelled) hangs the ringing up.
- On answer, the dialplan asks ``callback-answered`` (FastAGI): the offer is accepted
  and the attempt recorded in one transaction, and only then is the visitor dialled.
  A crash cannot make a dial that the database does not know about.
- The attempt's result (UserEvent ``CallbackResult``, kept in AstDB too) comes from a
  hang-up handler: the pair's first half's (which dialled the visitor) for a visitor
  not reached; the visitor's own channel's (pushed on it before it was dialled) for
  a conversation, when it ends. Once the visitor answers, the Local pair is optimised
  away and the agent's phone and the trunk talk in one bridge. A server that was down
  when the call ended finds the result in AstDB (:meth:`CallbackExecutor.recover`); a
  call with any channel still up is left alone; a call Asterisk lost without a word
  (no entry, no channel of the call) counts as ``LOST``.

Every process sees every routing event; the process whose guarded claim of the offer
succeeds is the one that rings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from pbx.agi.server import AgiHangup, AgiSession
from pbx.ami.client import AmiClient, AmiError, AmiNotConnected
from pbx.events import CallEnded
from routing.events import (
    InteractionAbandoned,
    InteractionExpired,
    OfferCancelled,
    OfferDeclined,
    OfferMade,
    OfferTimedOut,
)
from server.config import TimersConfig

from .config import CallbackConfig
from .numbers import digits
from .services import CallbackService

log = logging.getLogger("callback.executor")

_AMI_ERRORS = (AmiError, AmiNotConnected, TimeoutError)
# Ringing stops this long before routing's offer expires: an answer never comes after
# routing gave the callback to someone else.
_OFFER_MARGIN_S = 1.0
_ASTDB_FAMILY = "callback"
# An originate that fails sooner than this never rang the phone.
_FAILED_AT_ONCE_S = 1.0
# Recovery looks at calls and stale offers every this many polls.
_RECOVERY_EVERY = 5


class CallbackExecutor:
    def __init__(
        self,
        service: CallbackService,
        ami: AmiClient,
        config: CallbackConfig,
        timers: TimersConfig,
        clock: Callable[[], datetime],
    ) -> None:
        self._service = service
        self._ami = ami
        self._config = config
        self._timers = timers
        self._clock = clock
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # Look for results missed while we were away: at start, and after AMI returns.
        self._recover_now = True
        # Offers whose agent's phone this process is ringing → the agent's channel,
        # learnt from the channel's CALLBACK_OFFER variable (AMI VarSet).
        self._ringing: dict[int, str | None] = {}

    def subscribe(self, subscribe: Callable[[type, Callable[[Any], Any]], Any]) -> list[Any]:
        return [
            subscribe(OfferMade, self.on_offer),
            subscribe(OfferDeclined, self.on_offer_over),
            subscribe(OfferTimedOut, self.on_offer_over),
            subscribe(OfferCancelled, self.on_offer_over),
            subscribe(CallEnded, self.on_call_ended),
            subscribe(InteractionExpired, self.on_interaction_ended),
            subscribe(InteractionAbandoned, self.on_interaction_ended),
        ]

    def start(self) -> None:
        self._ami.subscribe(self.on_ami_event)
        self._ami.on_connection_change(self._on_connection)
        self._loop_task = asyncio.create_task(self._loop(), name="callback-loop")

    async def close(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- routing's offers -------------------------------------------------------------

    def on_offer(self, event: OfferMade) -> None:
        if event.channel != "callback":
            return
        self._spawn(self._ring_agent(event))

    async def _ring_agent(self, event: OfferMade) -> None:
        request = await self._service.request_of(event.interaction_id)
        if request is None:
            request = await self._service.adopt(event.interaction_id)
            if request is None:
                return
        claimed = await self._service.claim_offer(event.interaction_id, event.offer_id)
        if claimed is None:
            # Another process rings it, or the request ended (cancelled) while its
            # interaction still waited: that one leaves the queue.
            await self._service.drop_if_ended(event.interaction_id)
            return
        endpoint = await self._service.endpoint_of_agent(event.agent_id)
        left_s = event.expires_at.timestamp() - self._clock().timestamp() - _OFFER_MARGIN_S
        ring_s = min(self._timers.ring_timeout_s, left_s)
        if endpoint is None or ring_s < 1:
            await self._service.offer_unanswered(
                event.interaction_id, event.offer_id, event.agent_id
            )
            return
        label = f"Callback {claimed['name']}".strip()[:60] or "Callback"
        fields = {
            # A Local pair whose second half Dials the agent's phone (see the dialplan's
            # callback-agent); optimised away once the visitor answers.
            "Channel": f"Local/{endpoint}@callback-agent",
            "Context": "callback-dial",
            "Exten": "s",
            "Priority": "1",
            "Timeout": str(int(ring_s * 1000)),
            "CallerID": f'"{_caller_name(label)}" <{claimed["phone"]}>',
            "Variable": [
                f"CALLBACK_ID={claimed['id']}",
                f"CALLBACK_OFFER={event.offer_id}",
                f"CALLBACK_RING={self._config.visitor_ring_s}",
                f"CALLBACK_ENDPOINT={endpoint}",
                f"CALLBACK_NUMBER={claimed['phone']}",
                f"CALLBACK_LABEL={_caller_name(label)}",
            ],
        }
        log.info(
            "ringing agent for callback id=%s offer=%s endpoint=%s ring_s=%.0f",
            claimed["id"], event.offer_id, endpoint, ring_s,
        )  # fmt: skip
        started = time.monotonic()
        self._ringing[event.offer_id] = None
        try:
            await self._ami.originate(fields, timeout=ring_s + 10)
        except _AMI_ERRORS as exc:
            elapsed = time.monotonic() - started
            log.info(
                "agent did not take callback id=%s offer=%s after %.1f s: %s",
                claimed["id"], event.offer_id, elapsed, exc,
            )  # fmt: skip
            if elapsed < _FAILED_AT_ONCE_S:
                # A phone that fails at once (unregistered, busy) would be offered the
                # callback again at once: its offer is left to time out instead, which
                # routing counts as missed (and pauses an agent who misses too many).
                return
            await self._service.offer_unanswered(
                event.interaction_id, event.offer_id, event.agent_id
            )
        finally:
            self._ringing.pop(event.offer_id, None)

    async def on_offer_over(self, event: OfferDeclined | OfferTimedOut | OfferCancelled) -> None:
        channel = self._ringing.get(event.offer_id)
        if channel is not None and not isinstance(event, OfferDeclined):
            # Withdrawn while the phone rings (the visitor cancelled, the agent went
            # away): the ringing stops; an answer now would find no offer anyway.
            with contextlib.suppress(*_AMI_ERRORS):
                await self._ami.send_action("Hangup", {"Channel": channel, "Cause": "16"})
        await self._service.offer_ended(event.interaction_id, event.offer_id)

    async def on_interaction_ended(self, event: InteractionExpired | InteractionAbandoned) -> None:
        if event.channel != "callback":
            return
        if isinstance(event, InteractionExpired):
            await self._service.interaction_ended(event.interaction_id, "failed", "expired")
        else:
            await self._service.interaction_ended(
                event.interaction_id, "cancelled", event.reason[:100]
            )

    # --- the agent answered -----------------------------------------------------------

    async def on_answered(self, session: AgiSession) -> None:
        """``callback-answered``, on the Local channel that will dial the visitor once
        the agent answered: args = (request id, offer id, linkedid, agent's endpoint)."""
        args = session.args
        try:
            request_id, offer_id, call_id, endpoint = UUID(args[0]), int(args[1]), *args[2:4]
        except (IndexError, ValueError, TypeError):
            log.warning("callback-answered with bad arguments %r", args)
            return
        go = await self._service.start_attempt(
            request_id, offer_id, endpoint, session.request.channel or "", call_id
        )
        if go is None:
            return
        try:
            await session.command(f'SET VARIABLE CALLBACK_GO "{digits(go.phone)}"')
        except AgiHangup:
            # The agent hung up right after answering: the hang-up handler ran with
            # no CALLBACK_GO, so no result will come; the attempt ends now.
            await self._service.settle_attempt(request_id, offer_id, "CANCEL")

    # --- results ----------------------------------------------------------------------

    async def on_ami_event(self, message: Any) -> None:
        name = message.event
        if name == "VarSet":
            self._note_channel(message)
            return
        if name != "UserEvent" or message.get("UserEvent") != "CallbackResult":
            return
        try:
            request_id = UUID(message.get("Request", ""))
            offer_id = int(message.get("Offer", ""))
        except ValueError:
            return
        result = message.get("Result", "") or "CANCEL"
        if result == "REFUSED":
            return
        await self._settle(request_id, offer_id, result)

    def _note_channel(self, message: Any) -> None:
        if message.get("Variable") != "CALLBACK_OFFER" or not self._ringing:
            return
        try:
            offer_id = int(message.get("Value", ""))
        except ValueError:
            return
        if offer_id in self._ringing and self._ringing[offer_id] is None:
            self._ringing[offer_id] = message.get("Channel")

    async def _settle(self, request_id: UUID, offer_id: int, result: str) -> None:
        if await self._service.settle_attempt(request_id, offer_id, result):
            self._wake.set()
        with contextlib.suppress(*_AMI_ERRORS):
            await self._ami.send_action(
                "DBDel", {"Family": _ASTDB_FAMILY, "Key": f"{request_id}-{offer_id}"}
            )

    async def on_call_ended(self, event: CallEnded) -> None:
        await self._service.mark_journal_of_call(event.call_id)

    # --- the loop: due requests and recovery -----------------------------------------

    def _on_connection(self, connected: bool) -> None:
        if connected:
            self._recover_now = True
            self._wake.set()

    async def _loop(self) -> None:
        polls = 0
        while True:
            try:
                await self._service.enqueue_due()
                if self._recover_now or polls % _RECOVERY_EVERY == 0:
                    self._recover_now = False
                    await self.recover()
            except Exception:
                log.exception("callback loop failed; retrying")
            polls += 1
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._config.poll_interval_s):
                    await self._wake.wait()

    async def recover(self) -> None:
        """Settle attempts whose end we did not hear of; free requests whose agent's offer
        ended while nobody listened."""
        if not self._ami.connected:
            return
        calls_up: set[str] | None = None
        for attempt in await self._service.open_attempts():
            calls_up = await self._recover_attempt(attempt, calls_up)
        for request in await self._service.stale_calling(self._timers.offer_timeout_s * 2):
            if request["offer_id"] is not None and request["offer_state"] != "offered":
                await self._service.offer_ended(request["interaction_id"], request["offer_id"])

    async def _recover_attempt(self, attempt: Any, calls_up: set[str] | None) -> set[str] | None:
        """Settle one attempt from AstDB, unless its call is still up. ``calls_up``: the
        calls (Linkedids) with a channel up, listed once per pass, after the first
        look in AstDB that found nothing (so never older than a later look)."""
        key = f"{attempt['request_id']}-{attempt['offer_id']}"
        try:
            result = await self._astdb(key)
            if result is None:
                if calls_up is None:
                    calls_up = await self._calls_up()
                # Any channel of the call: the Local channel that dialled is optimised
                # away once the visitor answers, their conversation goes on.
                if attempt["call_id"] in calls_up:
                    log.info(
                        "callback attempt still up request=%s call_id=%s",
                        attempt["request_id"], attempt["call_id"],
                    )  # fmt: skip
                    return calls_up
                # The hang-up handler may have run between the two looks.
                result = await self._astdb(key) or "LOST"
        except _AMI_ERRORS:
            return calls_up
        log.info("callback attempt recovered request=%s result=%s", attempt["request_id"], result)
        await self._settle(attempt["request_id"], attempt["offer_id"], result)
        return calls_up

    async def _astdb(self, key: str) -> str | None:
        try:
            answer = await self._ami.send_action("DBGet", {"Family": _ASTDB_FAMILY, "Key": key})
        except AmiError:
            return None
        for event in answer.events:
            if event.get("Val"):
                return event.get("Val")
        return None

    async def _calls_up(self) -> set[str]:
        """The Linkedids of every channel up in Asterisk. Raises on AMI errors: a list
        we could not read must not make a live call look lost."""
        answer = await self._ami.send_action("CoreShowChannels")
        return {e.get("Linkedid", "") for e in answer.events} - {""}

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("callback task failed", exc_info=task.exception())


def _caller_name(text: str) -> str:
    """A caller name Asterisk's CallerID parser cannot misread."""
    return "".join(c for c in text if c not in '"<>\\\r\n')
