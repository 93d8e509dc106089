"""Bus consumers of the voice path: ring the agents routing offered a waiting caller,
carry out an overflow, and settle a call when it ends.

A waiting caller is in an AGI session (music, announcements). When routing offers the
call, the channel is redirected over AMI to ``ivr-connect``, which Dials the offered
agents' phones; that ends the AGI session, and ``redirecting`` tells the story apart
from a caller hanging up. Whether the caller is gone is decided only by the call
tracker's ``CallEnded``: Asterisk's word, not an AGI connection closing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from pbx.ami.client import AmiClient, AmiError, AmiNotConnected
from pbx.events import CallEnded
from routing.events import InteractionExpired, OfferMade
from server.config import TimersConfig

from .calls import CallRegistry, LiveCall, Phase
from .config import IvrConfig
from .queue import VoiceQueue
from .services import CallLog

log = logging.getLogger("ivr.connect")

_AMI_ERRORS = (AmiError, AmiNotConnected, TimeoutError)

# The router's offer can come before the IVR flow has registered its caller as waiting:
# the flow's enqueue commits, then awaits the pool connection's release, and the router
# (woken by the commit) may offer the call meanwhile. Such an offer waits for the caller
# to be registered — polled, as the registry has no signal — up to this long.
_QUEUEING_WAIT_S = 2.0
_QUEUEING_POLL_S = 0.005


class VoiceConnector:
    def __init__(
        self,
        *,
        calls: CallRegistry,
        queue: VoiceQueue,
        ami: AmiClient,
        call_log: CallLog,
        config: IvrConfig,
        timers: TimersConfig,
        clock: Callable[[], datetime],
    ) -> None:
        self._calls = calls
        self._queue = queue
        self._ami = ami
        self._log = call_log
        self._config = config
        self._timers = timers
        self._clock = clock

    def subscribe(self, subscribe: Callable[[type, Callable[[object], object]], object]) -> None:
        subscribe(OfferMade, self.on_offer)
        subscribe(InteractionExpired, self.on_expired)
        subscribe(CallEnded, self.on_call_ended)

    async def on_offer(self, event: OfferMade) -> None:
        if event.channel != "voice":
            return
        call = await self._queued_call(event)
        if call is None or call.phase != "waiting" or call.redirecting:
            # Not ours, or already ringing (a ring group's offers come one event each
            # and were all rung with the first).
            return
        targets, deadline = await self._queue.ring_targets(event.interaction_id)
        now = time.monotonic()
        retry_s = self._config.retry_failed_phone_s
        targets = [
            t for t in targets if now - call.failed_phones.get(t.agent_id, -retry_s) >= retry_s
        ]
        if not targets:
            # Phones that just failed at once: their offers are left to time out
            # (a missed offer for routing) instead of ringing them in a loop.
            return
        # Ringing ends before the offer expires, and by the end of the caller's max wait:
        # an offer left to time out past it lets routing's sweep carry out the overflow
        # (the router would offer a declined call again before the sweep saw it).
        ends = [t.expires_at for t in targets] + ([deadline] if deadline is not None else [])
        left_s = min(ends).timestamp() - self._clock().timestamp()
        ring_s = int(min(self._timers.ring_timeout_s, left_s - self._config.offer_margin_s))
        if deadline is not None and deadline.timestamp() - self._clock().timestamp() < 1:
            # An offer at the end of the caller's max wait: the overflow, not a ring.
            await self._queue.expire_due(event.interaction_id)
            return
        if ring_s < 1 or call.phase != "waiting" or call.redirecting:
            return
        call.offers = {t.offer_id: t.agent_id for t in targets}
        dial = "&".join(f"PJSIP/{t.endpoint}" for t in targets)
        log.info("ringing agents call_id=%s dial=%s ring_s=%s", call.call_id, dial, ring_s)
        variables = {"IVR_DIAL": dial, "IVR_RING": str(ring_s)}
        if not await self._redirect(call, "ivr-connect", variables, then="ringing"):
            rung, call.offers = list(call.offers.items()), {}
            await self._queue.decline(rung)

    async def _queued_call(self, event: OfferMade) -> LiveCall | None:
        """The call offered, once the flow has registered it as waiting; None if it is
        not ours (or its caller left while being queued)."""
        call = self._calls.by_interaction(event.interaction_id)
        if call is not None:
            return call
        call_id = dict(event.external_refs).get("call_id", "")
        call = self._calls.get(call_id)
        if call is None or call.interaction_id is not None or call.phase != "menu":
            return None
        # Being queued right now: the offer came between the commit and the registration.
        deadline = time.monotonic() + _QUEUEING_WAIT_S
        while self._calls.get(call_id) is call and call.interaction_id is None:
            if time.monotonic() >= deadline:
                log.warning(
                    "offer for a call never registered as queued call_id=%s offer_id=%s",
                    call_id,
                    event.offer_id,
                )
                return None
            await asyncio.sleep(_QUEUEING_POLL_S)
        return self._calls.by_interaction(event.interaction_id)

    async def on_expired(self, event: InteractionExpired) -> None:
        call = self._calls.by_interaction(event.interaction_id)
        if call is None or call.phase != "waiting":
            return
        call.pending = event.overflow_target or "voicemail"
        log.info("overflow call_id=%s target=%s", call.call_id, call.pending)
        await self._redirect(call, "ivr-resume", {})

    async def on_call_ended(self, event: CallEnded) -> None:
        call = self._calls.remove(event.call_id)
        if call is None:
            return
        if call.forwarding and event.record.answered_by is not None:
            call.settle("forwarded")
        outcome = call.outcome_at_end()
        if call.interaction_id is not None:
            if call.phase == "connected":
                await self._queue.complete(call.interaction_id, call.agent_id)
            elif call.phase in ("waiting", "ringing") and outcome == "abandoned_in_queue":
                await self._queue.abandon(call.interaction_id)
        await self._log.finished(call, outcome, event.record.ended_at)

    async def _redirect(
        self,
        call: LiveCall,
        context: str,
        variables: dict[str, str],
        *,
        then: Phase | None = None,
    ) -> bool:
        """Move the caller to ``context``; once Asterisk has taken the Redirect, the call
        is marked ``redirecting`` (and put in phase ``then``).

        Not before: the flow leaves its waiting loop when it sees the mark and ends its
        AGI session, and the dialplan then hangs the caller up — a caller queued a moment
        ago (the flow between its enqueue and its first waiting command) was hung up
        before the Redirect arrived ("No such channel"). Until then the flow keeps the
        caller in its AGI session, which the Redirect ends."""
        try:
            for name, value in variables.items():
                await self._ami.send_action(
                    "Setvar", {"Channel": call.channel, "Variable": name, "Value": value}
                )
            await self._ami.send_action(
                "Redirect",
                {"Channel": call.channel, "Context": context, "Exten": "s", "Priority": "1"},
            )
        except _AMI_ERRORS as exc:
            # The caller hung up meanwhile (CallEnded settles it) or AMI is down.
            log.warning("redirect failed call_id=%s context=%s: %s", call.call_id, context, exc)
            return False
        call.redirecting = True
        if then is not None:
            call.phase = then
        return True
