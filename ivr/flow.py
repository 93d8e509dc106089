"""The IVR over FastAGI: one coroutine per call walks the menu and keeps a queued
caller company until an agent is rung.

Three AGI scripts, all run by ``asterisk_conf/templates/extensions.conf.tmpl``:

* ``ivr`` (context ``ivr-in``): a new call. Working hours are checked with the
  injectable clock; then the greeting, the menus, and either an action (voicemail,
  forward, callback) or the department's queue, where the caller waits with music and
  hears their position, the estimated wait and the callback offer.
* ``ivr-resume`` (contexts ``ivr-connect`` and ``ivr-resume``): the caller is back
  from ringing agents who did not answer (back to waiting, same place) or was sent
  here for an overflow.
* ``ivr-answered`` (Dial's ``U()`` on the agent's channel): an agent answered, so
  their offer is accepted before the two are bridged.

Every script that has dealt with the caller sets ``IVR_DONE=1``; a script that ends
any other way (the server unreachable or gone mid-call) leaves it empty and the
dialplan rings every agent, then voicemail.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pbx.agi import AgiHangup, AgiSession
from pbx.journal import endpoint_of
from routing.errors import RoutingError
from server.config import TimersConfig

from .calls import CallRegistry, LiveCall
from .config import IvrConfig
from .dialog import ANY_DIGIT, Dialog
from .menus import (
    CallbackAction,
    DepartmentAction,
    ForwardAction,
    HangupAction,
    InfoAction,
    MenuSet,
    SubmenuAction,
    VoicemailAction,
)
from .queue import VoiceQueue
from .services import CallLog, MenuService, PromptService, VoicemailService
from .stats import IvrStats

log = logging.getLogger("ivr.flow")

# A Dial to an external number lasts as long as the conversation.
_LONGEST_CALL_S = 4 * 3600.0
_FAILED_AT_ONCE = frozenset({"BUSY", "CHANUNAVAIL", "CONGESTION"})


class IvrFlow:
    def __init__(
        self,
        *,
        menus: MenuService,
        prompts: PromptService,
        queue: VoiceQueue,
        calls: CallRegistry,
        call_log: CallLog,
        voicemail: VoicemailService,
        config: IvrConfig,
        timers: TimersConfig,
        clock: Callable[[], datetime],
        stats: IvrStats,
        announce_recording: Callable[[int], bool] = lambda _department_id: False,
    ) -> None:
        self._menus = menus
        self._prompts = prompts
        self._queue = queue
        self._calls = calls
        self._log = call_log
        self._voicemail = voicemail
        self._config = config
        self._timers = timers
        self._clock = clock
        self._stats = stats
        # Whether callers of a department are told, before an agent is rung, that the
        # call is recorded (the recording policy; recording itself starts at the answer).
        self._announce_recording = announce_recording

    def _dialog(self, session: AgiSession) -> Dialog:
        return Dialog(session, self._prompts.resolve, self._stats.agi_rtt_ms)

    # --- AGI scripts ---------------------------------------------------------------

    async def on_call(self, session: AgiSession) -> None:
        """``ivr``: args = (linkedid, dialled number)."""
        call_id, number = [*session.args, "", ""][:2]
        menus = await self._menus.current(number)
        if menus is None or not call_id:
            log.warning("no IVR menu for number=%s call_id=%s: dialplan fallback", number, call_id)
            return
        env = session.env
        call = self._calls.add(
            LiveCall(
                call_id=call_id,
                channel=session.request.channel,
                number=number,
                caller_number=_known(env.get("agi_callerid")),
                caller_name=_known(env.get("agi_calleridname")),
                started_at=self._clock(),
                menus=menus,
            )
        )
        await self._log.started(call)
        dialog = self._dialog(session)
        await dialog.answer()
        await dialog.set_var("CHANNEL(language)", menus.language)
        schedule = menus.parsed_schedule()
        if schedule is not None and not schedule.is_open(self._clock()):
            call.step("after_hours")
            await dialog.play(menus.after_hours.greeting)
            await self._act(dialog, call, menus, menus.after_hours.action)
            call.settle("after_hours")
        else:
            digit = await dialog.play(menus.greeting, ANY_DIGIT)
            await self._menu(dialog, call, menus, menus.root, digit)
        await self._done(dialog)

    async def on_resume(self, session: AgiSession) -> None:
        """``ivr-resume``: args = (linkedid, DIALSTATUS of the agents' ring or empty)."""
        call_id, status = [*session.args, "", ""][:2]
        call = self._calls.get(call_id)
        if call is None or call.menus is None:
            # Not ours (another process's, or from before a restart): the dialplan
            # fallback rings everyone.
            log.warning("resume of an unknown call call_id=%s: dialplan fallback", call_id)
            return
        call.redirecting = False
        call.channel = session.request.channel
        dialog = self._dialog(session)
        if call.phase == "ringing":
            rung, call.offers = dict(call.offers), {}
            if status in _FAILED_AT_ONCE:
                now = time.monotonic()
                call.failed_phones.update({agent: now for agent in rung.values()})
            # Waiting again before the offers are given back: the next offer, made the
            # moment they are, must find the caller waiting.
            call.phase = "waiting"
            log.info("agents did not answer call_id=%s status=%s", call_id, status)
            await self._queue.decline(list(rung.items()))
        if call.pending is not None:
            target, call.pending = call.pending, None
            await self._overflow(dialog, call, call.menus, target)
        else:
            await self._wait(dialog, call, call.menus)
        await self._done(dialog)

    async def on_answered(self, session: AgiSession) -> None:
        """``ivr-answered``, on the agent's channel: args = (linkedid,)."""
        call = self._calls.get(session.args[0] if session.args else "")
        endpoint = endpoint_of(session.request.channel)
        if call is None or endpoint is None:
            return
        agent_id = await self._queue.agent_of_endpoint(endpoint)
        offer_id = next((o for o, a in call.offers.items() if a == agent_id), None)
        if agent_id is None or offer_id is None:
            log.warning("answer by a phone not offered call_id=%s at=%s", call.call_id, endpoint)
            return
        try:
            await self._queue.accept(offer_id, agent_id)
        except RoutingError as exc:
            # The offer closed under us (timed out, taken): this agent must not have
            # the call, so their leg is hung up and the caller goes back to waiting.
            log.warning("answered offer not accepted call_id=%s: %s", call.call_id, exc)
            await self._dialog(session).set_var("GOSUB_RESULT", "ABORT")
            return
        call.offers = {}
        call.agent_id = agent_id
        call.connected_at = self._clock()
        call.phase = "connected"
        call.step(f"agent:{endpoint}")
        log.info("call connected call_id=%s agent=%s", call.call_id, agent_id)

    # --- menus and actions -----------------------------------------------------------

    async def _menu(
        self, dialog: Dialog, call: LiveCall, menus: MenuSet, name: str, digit: str = ""
    ) -> None:
        failures = 0
        call.step(name)
        while True:
            menu = menus.menus[name]
            if menu.language:
                await dialog.set_var("CHANNEL(language)", menu.language)
            if not digit:
                digit = await dialog.ask(menu.prompt, menu.timeout_s)
            action = menu.options.get(digit) if digit else None
            if action is not None:
                call.step(f"{name}:{digit}")
                if isinstance(action, SubmenuAction):
                    name, digit, failures = action.menu, "", 0
                    call.step(name)
                    continue
                if isinstance(action, InfoAction):
                    digit = await dialog.play(action.prompt, ANY_DIGIT)
                    continue
                await self._act(dialog, call, menus, action)
                return
            failures += 1
            if failures > menu.repeats:
                call.step(f"{name}:default")
                await self._act(dialog, call, menus, menu.default)
                return
            digit = await dialog.play(
                menu.invalid_prompt if digit else menu.timeout_prompt, ANY_DIGIT
            )

    async def _act(self, dialog: Dialog, call: LiveCall, menus: MenuSet, action: object) -> None:
        if isinstance(action, DepartmentAction):
            await self._queue_call(dialog, call, menus, action)
        elif isinstance(action, SubmenuAction):
            await self._menu(dialog, call, menus, action.menu)
        elif isinstance(action, VoicemailAction):
            notify = action.notify or menus.mailboxes.get(action.department_id or 0, ())
            await self._record_voicemail(dialog, call, action.department_id, notify)
        elif isinstance(action, ForwardAction):
            await self._forward(dialog, call, menus, action.number, action.ring_s, action.no_answer)
        elif isinstance(action, CallbackAction):
            await self._callback_later(dialog, call, menus, action.department_id)
        elif isinstance(action, InfoAction | HangupAction):
            await dialog.play(action.prompt)

    async def _queue_call(
        self, dialog: Dialog, call: LiveCall, menus: MenuSet, action: DepartmentAction
    ) -> None:
        call.step(f"department:{action.department_id}")
        if not call.recording_announced and self._announce_recording(action.department_id):
            # Before the caller is queued: once queued, an offer can take the caller to
            # an agent's phone at any moment (our redirect ends this AGI session), and
            # the notice must be heard whole before anyone answers. A requeued caller
            # is back in _wait, never here, so it is said once a call.
            call.recording_announced = True
            call.step("recording_notice")
            await dialog.play(menus.waiting.recording_notice)
        chosen_at = time.perf_counter()
        if call.customer_id is None:
            call.customer_id = await self._queue.customer_for(call.caller_number, call.caller_name)
        interaction = await self._queue.enqueue_voice(
            call.customer_id,
            action.department_id,
            call.call_id,
            skills=action.skills,
            priority=action.priority,
        )
        # No await between the commit and this: the router's offer, handled by another
        # task, must find the call waiting.
        call.department_id = action.department_id
        self._calls.queued(call, interaction.id, interaction.enqueued_at)
        self._stats.answer_to_queue_ms.add((time.perf_counter() - chosen_at) * 1000)
        # The dialplan's fallback tells which interaction a caller had when the server
        # is lost mid-wait.
        await dialog.set_var("IVR_INTERACTION", str(interaction.id))
        log.info(
            "call queued call_id=%s interaction_id=%s department_id=%s",
            call.call_id,
            interaction.id,
            action.department_id,
        )
        await self._wait(dialog, call, menus)

    async def _wait(self, dialog: Dialog, call: LiveCall, menus: MenuSet) -> None:
        """Music, announcements and the callback offer, until an offer takes the caller
        away (our redirect ends this AGI session) or the caller asks for a callback."""
        waiting = menus.waiting
        escape = waiting.callback_digit or ""
        while call.phase == "waiting" and not call.redirecting:
            digit = await self._announce(dialog, call, menus, escape)
            if not digit and escape:
                digit = await dialog.play(waiting.callback_offer, escape)
            if not digit:
                await dialog.music(True, self._config.moh_class)
                digit = await dialog.wait_digit(self._timers.announce_period_s)
            if digit and digit == waiting.callback_digit and call.phase == "waiting":
                await self._callback_in_place(dialog, call, menus)
                return

    async def _announce(self, dialog: Dialog, call: LiveCall, menus: MenuSet, escape: str) -> str:
        assert call.interaction_id is not None
        place = await self._queue.position(call.interaction_id)
        if place.position is None:
            return ""
        waiting = menus.waiting
        digit = ""
        if waiting.announce_position:
            if place.position == 1:
                digit = await dialog.play(["sound:queue-youarenext"], escape)
            else:
                digit = (
                    await dialog.play(["sound:queue-thereare"], escape)
                    or await dialog.say_number(place.position, escape)
                    or await dialog.play(["sound:queue-callswaiting"], escape)
                )
        if not digit and waiting.announce_wait and place.estimated_wait_s is not None:
            minutes = max(1, math.ceil(place.estimated_wait_s / 60))
            unit = "sound:queue-minute" if minutes == 1 else "sound:queue-minutes"
            digit = (
                await dialog.play(["sound:queue-holdtime"], escape)
                or await dialog.say_number(minutes, escape)
                or await dialog.play([unit], escape)
            )
        return digit

    async def _callback_in_place(self, dialog: Dialog, call: LiveCall, menus: MenuSet) -> None:
        assert call.interaction_id is not None
        call.step("callback")
        await self._queue.to_callback(call.interaction_id, call.caller_number or "")
        call.settle("callback_requested")
        call.phase = "finished"
        log.info("callback call_id=%s interaction_id=%s", call.call_id, call.interaction_id)
        await dialog.play(menus.waiting.callback_confirm)

    async def _callback_later(
        self, dialog: Dialog, call: LiveCall, menus: MenuSet, department_id: int
    ) -> None:
        call.step(f"callback:{department_id}")
        if call.customer_id is None:
            call.customer_id = await self._queue.customer_for(call.caller_number, call.caller_name)
        interaction = await self._queue.enqueue_callback(
            call.customer_id, department_id, call.call_id, call.caller_number or ""
        )
        call.interaction_id = interaction.id
        call.settle("callback_requested")
        await dialog.play(menus.waiting.callback_confirm)

    async def _overflow(self, dialog: Dialog, call: LiveCall, menus: MenuSet, target: str) -> None:
        call.step(f"overflow:{target}")
        kind, _, value = target.partition(":")
        if kind == "forward":
            await self._forward(dialog, call, menus, value, None, "voicemail")
        elif kind == "callback" and call.department_id is not None:
            await self._callback_later(dialog, call, menus, call.department_id)
        else:
            notify = menus.mailboxes.get(call.department_id or 0, ())
            await self._record_voicemail(dialog, call, call.department_id, notify)

    async def _forward(
        self,
        dialog: Dialog,
        call: LiveCall,
        menus: MenuSet,
        number: str,
        ring_s: float | None,
        no_answer: str,
    ) -> None:
        call.step(f"forward:{number}")
        call.forwarding = True
        target = self._config.external_dial.format(number=number, digits=number.lstrip("+"))
        seconds = max(1, round(ring_s or self._config.forward_ring_s))
        await dialog.exec("Dial", f"{target},{seconds}", timeout=_LONGEST_CALL_S)
        status = await dialog.get_var("DIALSTATUS")
        if status == "ANSWER":
            call.settle("forwarded")
            return
        call.forwarding = False
        log.info("no answer at %s call_id=%s status=%s", number, call.call_id, status)
        if no_answer == "voicemail":
            notify = menus.mailboxes.get(call.department_id or 0, ())
            await self._record_voicemail(dialog, call, call.department_id, notify)

    async def _record_voicemail(
        self, dialog: Dialog, call: LiveCall, department_id: int | None, notify: tuple[str, ...]
    ) -> None:
        call.step("voicemail")
        if call.customer_id is None:
            call.customer_id = await self._queue.customer_for(call.caller_number, call.caller_name)
        base = self._voicemail.spool_file(call.call_id)
        recorded_at = self._clock()
        try:
            await dialog.play(["sound:vm-intro"])
            await dialog.record(
                str(base), self._config.voicemail_max_s, self._config.voicemail_silence_s
            )
        finally:
            # Most callers hang up to end their message: it is kept all the same.
            stored = await self._voicemail.store(
                call, Path(f"{base}.wav"), department_id, notify, recorded_at
            )
            if stored:
                call.settle("voicemail")
        await dialog.play(["sound:vm-goodbye"])

    async def _done(self, dialog: Dialog) -> None:
        try:
            await dialog.set_var("IVR_DONE", "1")
        except AgiHangup:
            pass


def _known(value: str | None) -> str | None:
    return None if value in (None, "", "unknown", "<unknown>", "anonymous") else value
