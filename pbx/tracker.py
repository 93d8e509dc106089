"""The call tracker: AMI events in, call domain events out. Pure — no I/O, no clock.

Asterisk groups every channel of one call under one ``Linkedid``; a call here is that
group, and it ends when its last channel is gone (hung up, or moved to another
Linkedid — Asterisk re-links channels that join a bridge with an older call, which is
how a consultation call of an attended transfer folds into the call it transferred).

How the AMI facts are read (each rule was checked against captures of Asterisk 22):

* **Caller**: the first channel of the Linkedid. When that is one half of a Local
  channel (found by ``LocalBridge``, never by the channel's name) the two halves are
  one logical leg. An originate through a Local channel is ambiguous until the
  originated half acts: if it goes on to dial someone (click-to-call), the caller is
  the phone its other half rang first; otherwise the Local channel itself plays the
  caller (a test robot, an application).
* **Parties**: channels some Dial (``DialBegin``) rang, other than Local halves and
  the caller's own leg. A party is "ringing" at ``Newstate`` Ringing and answered at
  ``DialEnd`` ``ANSWER`` (Dial, Queue and pickups all end that way). The first
  party that answered the caller is ``answered_by``; an IVR or a queue answering the
  caller's channel is not a party.
* **Who hung up**: ``HangupRequest`` is what a channel driver raises when the far
  end hangs up (SIP BYE/CANCEL, a failure answer); ``SoftHangupRequest`` is Asterisk
  itself (dialplan, AMI Hangup) and does not count. On a Local half the request comes
  from the other half: it counts for that half's side only if that half was an
  endpoint (it never dialled), not a pass-through.
* **Disposition** is what happened on the wire: answered; else cancelled when the
  caller gave up first; else from the Dial statuses (no answer, busy, failed); else
  from the hangup cause.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from .ami.codec import AmiMessage
from .events import (
    CallAnswered,
    CallEnded,
    CallEvent,
    CallRecord,
    CallRinging,
    CallStarted,
    CallTransferred,
    Disposition,
    HangupBy,
    Party,
    Transfer,
)

__all__ = ["CallState", "CallTracker", "TrackedCall"]

_NO_EVENTS: tuple[CallEvent, ...] = ()
_UNKNOWN = frozenset(("", "<unknown>", "<Unknown>"))
# Extensions that name no destination: the generic start and the hangup handler.
_NO_EXTEN = frozenset(("", "s", "h"))
_STATE_RINGING = "5"
_FAILED_DIAL = frozenset(("CONGESTION", "CHANUNAVAIL", "INVALIDARGS", "DONTCALL", "TORTURE"))
_BUSY_CAUSES = frozenset((17, 21))  # user busy, call rejected
_NO_ANSWER_CAUSES = frozenset((0, 16, 18, 19))  # normal clearing, no user response/answer


def _known(value: str | None) -> str | None:
    return None if value is None or value in _UNKNOWN else value


class CallState(enum.Enum):
    """Where a call is. Transitions only go forward: DIALLING → RINGING → ANSWERED → ENDED."""

    DIALLING = "dialling"
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


class _Channel:
    __slots__ = (
        "bridge",
        "bridged",
        "cid_name",
        "cid_num",
        "created_at",
        "dialled",
        "dialled_by",
        "dialled_number",
        "exten",
        "linkedid",
        "name",
        "peer",
        "rang",
        "ringing",
        "uniqueid",
    )

    def __init__(self, uniqueid: str, name: str, linkedid: str, at: datetime) -> None:
        self.uniqueid = uniqueid
        self.name = name
        self.linkedid = linkedid
        self.created_at = at
        self.cid_num: str | None = None
        self.cid_name: str | None = None
        self.exten: str | None = None  # the extension it entered the dialplan with
        self.peer: _Channel | None = None  # the other half, when this is half of a Local channel
        self.dialled = False  # it started a Dial of its own (so it is not an endpoint)
        self.dialled_by: str | None = None  # uniqueid of the channel whose Dial rang it
        self.dialled_number: str | None = None
        self.rang = False
        # Its phone reported ringing; with several targets that can come before the
        # DialBegin that tells us who dialled it.
        self.ringing = False
        self.bridge: str | None = None
        self.bridged = False  # it was in a bridge at some time (so it is not an endpoint)

    def party(self) -> Party:
        return Party(self.cid_num or self.dialled_number, self.cid_name, self.name)


class TrackedCall:
    """The live state of one call (read-only for callers; the tracker mutates it)."""

    def __init__(self, call_id: str, first: _Channel, at: datetime) -> None:
        self.call_id = call_id
        self.state = CallState.DIALLING
        self.started_at = at
        self.caller = first
        self.live: dict[str, _Channel] = {}
        self.names: list[str] = []
        self.originated = False
        self.destination: str | None = None
        self.answered_uid: str | None = None
        self.answered_party: Party | None = None
        self.answered_at: datetime | None = None
        self.rang: dict[str, Party] = {}
        self.dial_statuses: list[str] = []
        self.hangup_by: HangupBy = "unknown"
        self.hangup_uid: str | None = None
        # Channels that transferred the call away: their hang-up ends their part only.
        self.transferers: set[str] = set()
        self.announced = False
        self.hung_up_any = False
        self.caller_cause: tuple[int | None, str | None] | None = None
        self.first_cause: tuple[int | None, str | None] | None = None
        self.transfers: list[Transfer] = []
        self.closed_by_resync = False

    @property
    def caller_uid(self) -> str:
        return self.caller.uniqueid

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.names)


class CallTracker:
    """Feed it every AMI event in order; it returns the domain events each one caused.

    ``clock`` gives the time of an event that carries no ``Timestamp`` (Asterisk adds
    one with ``timestampevents = yes``) and no explicit ``at``.
    """

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._channels: dict[str, _Channel] = {}
        self._calls: dict[str, TrackedCall] = {}
        self._handlers: dict[str, Callable[[AmiMessage, datetime], list[CallEvent] | None]] = {
            "Newchannel": self._newchannel,
            "Newstate": self._newstate,
            "NewCallerid": self._newcallerid,
            "NewConnectedLine": self._touch,
            "Rename": self._rename,
            "LocalBridge": self._localbridge,
            "DialBegin": self._dialbegin,
            "DialEnd": self._dialend,
            "BridgeCreate": self._ignore,
            "BridgeEnter": self._bridgeenter,
            "BridgeLeave": self._bridgeleave,
            "BridgeDestroy": self._ignore,
            "HangupRequest": self._hanguprequest,
            "Hangup": self._hangup,
            "BlindTransfer": self._blindtransfer,
            "AttendedTransfer": self._attendedtransfer,
        }

    # -- public ------------------------------------------------------------------

    def feed(self, msg: AmiMessage, at: datetime | None = None) -> Sequence[CallEvent]:
        """Apply one AMI message; returns the domain events it caused (often none)."""
        handler = self._handlers.get(msg.event)  # type: ignore[arg-type]
        if handler is None:
            return _NO_EVENTS
        return handler(msg, self._time(msg, at)) or _NO_EVENTS

    def resync(
        self,
        channels: Iterable[AmiMessage],
        at: datetime | None = None,
        *,
        asterisk_restarted: bool = False,
    ) -> list[CallEvent]:
        """Reconcile with Asterisk's list of live channels (``CoreShowChannel`` events).

        Channels we track that Asterisk no longer has were hung up while we could not
        see it: their calls end now. Channels we do not know are calls that started
        while we were away: they are picked up, and a caller already bridged with a
        party counts as answered by it.

        ``asterisk_restarted``: every channel we track is gone whatever the list says.
        Asterisk's ids are the time in seconds and a counter that starts again at 0,
        so a channel of the new Asterisk can carry the id of one we still track.
        """
        now = at or self._clock()
        listed = {m["Uniqueid"]: m for m in channels if "Uniqueid" in m}
        out: list[CallEvent] = []
        stale = list(self._channels) if asterisk_restarted else []
        stale += [u for u in self._channels if u not in listed and u not in stale]
        for uid in stale:
            ch = self._channels[uid]
            call = self._calls.get(ch.linkedid)
            if call is not None:
                call.closed_by_resync = True
            out.extend(self._remove(ch, now, None, None))
        new_calls: list[TrackedCall] = []
        for uid, m in listed.items():
            if uid in self._channels:
                self._relink(self._channels[uid], m.get("Linkedid"), now, out)
                self._channels[uid].bridge = m.get("BridgeId") or None
                continue
            known_call = m.get("Linkedid") in self._calls
            out.extend(self._newchannel(m, now) or ())
            if uid in self._channels:
                self._channels[uid].bridge = m.get("BridgeId") or None
            ch = self._channels.get(uid)
            call = self._calls.get(ch.linkedid) if ch is not None else None
            if call is not None and not known_call:
                new_calls.append(call)
        for call in new_calls:
            self._infer_answer(call, now, out)
        return out

    @property
    def calls(self) -> dict[str, TrackedCall]:
        """Calls in progress, by call id (Linkedid)."""
        return self._calls

    # -- helpers -----------------------------------------------------------------

    def _time(self, msg: AmiMessage, at: datetime | None) -> datetime:
        ts = msg.get("Timestamp")
        if ts:
            try:
                return datetime.fromtimestamp(float(ts), UTC)
            except ValueError:
                pass
        return at or self._clock()

    def _caller_leg(self, call: TrackedCall) -> tuple[str, ...]:
        caller = call.caller
        if caller.peer is not None:
            return (caller.uniqueid, caller.peer.uniqueid)
        return (caller.uniqueid,)

    def _is_local(self, ch: _Channel) -> bool:
        return ch.peer is not None

    def _relink(
        self, ch: _Channel, linkedid: str | None, at: datetime, out: list[CallEvent]
    ) -> None:
        """Follow a channel that Asterisk moved to another Linkedid."""
        if not linkedid or linkedid == ch.linkedid:
            return
        old = self._calls.get(ch.linkedid)
        ch.linkedid = linkedid
        new = self._calls.get(linkedid)
        if new is None:
            new = self._calls[linkedid] = TrackedCall(linkedid, ch, at)
        new.live[ch.uniqueid] = ch
        if ch.name not in new.names:
            new.names.append(ch.name)
        if old is not None:
            old.live.pop(ch.uniqueid, None)
            if not old.live:
                if old.announced or old.hung_up_any:
                    out.extend(self._end(old, at))
                else:
                    # Every channel went on in another call and nothing happened here
                    # worth telling (a phone picking up a call ringing elsewhere).
                    del self._calls[old.call_id]

    def _channel(self, msg: AmiMessage, at: datetime, out: list[CallEvent]) -> _Channel | None:
        ch = self._channels.get(msg.get("Uniqueid"))  # type: ignore[arg-type]
        if ch is not None and msg.get("Linkedid") != ch.linkedid:
            self._relink(ch, msg.get("Linkedid"), at, out)
        return ch

    def _announce(self, call: TrackedCall, out: list[CallEvent]) -> None:
        """Publish CallStarted before the call's first other event.

        Not at ``Newchannel``: an originated channel learns its caller id a moment
        later (``NewCallerid``), and a Local caller needs its ``LocalBridge`` first.
        """
        if not call.announced:
            call.announced = True
            out.append(
                CallStarted(
                    call.call_id, self._caller_party(call), call.destination, call.started_at
                )
            )

    def _caller_party(self, call: TrackedCall) -> Party:
        caller = call.caller
        # A Local channel playing the caller: its ;1 half faces the originate and
        # takes on the connected party's id, while the other half runs the dialplan
        # with the caller's own id.
        source = caller.peer if caller.peer is not None else caller
        return Party(
            source.cid_num or caller.cid_num, source.cid_name or caller.cid_name, caller.name
        )

    def _party_of(self, call: TrackedCall, ch: _Channel) -> Party:
        party = ch.party()
        if party.number is None and call.caller_uid != ch.uniqueid:
            # A dialled phone shows the caller's connected line, not its own number;
            # what was dialled is the best name for it then.
            return Party(ch.dialled_number, party.name, party.channel)
        return party

    # -- event handlers ------------------------------------------------------------

    def _ignore(self, msg: AmiMessage, at: datetime) -> None:
        return None

    def _touch(self, msg: AmiMessage, at: datetime) -> list[CallEvent] | None:
        out: list[CallEvent] = []
        self._channel(msg, at, out)
        return out

    def _newchannel(self, msg: AmiMessage, at: datetime) -> list[CallEvent] | None:
        uid = msg.get("Uniqueid")
        if not uid:
            return None  # not a channel we could ever match again
        if uid in self._channels:
            return self._newcallerid(msg, at)  # seen already (resync overlap)
        linkedid = msg.get("Linkedid") or uid
        ch = _Channel(uid, msg.get("Channel", ""), linkedid, at)
        ch.cid_num = _known(msg.get("CallerIDNum"))
        ch.cid_name = _known(msg.get("CallerIDName"))
        exten = msg.get("Exten")
        ch.exten = None if exten in _NO_EXTEN else exten
        self._channels[uid] = ch
        call = self._calls.get(linkedid)
        out: list[CallEvent] = []
        if call is None:
            call = self._calls[linkedid] = TrackedCall(linkedid, ch, at)
            call.destination = ch.exten
            call.live[uid] = ch
            call.names.append(ch.name)
        else:
            call.live[uid] = ch
            call.names.append(ch.name)
        return out

    def _newstate(self, msg: AmiMessage, at: datetime) -> list[CallEvent] | None:
        out: list[CallEvent] = []
        ch = self._channel(msg, at, out)
        if ch is None:
            return out
        self._update_cid(ch, msg)
        if msg.get("ChannelState") == _STATE_RINGING:
            ch.ringing = True
            call = self._calls.get(ch.linkedid)
            if call is not None and ch.dialled_by is not None:
                self._ringing(call, ch, at, out)
        return out

    def _newcallerid(self, msg: AmiMessage, at: datetime) -> list[CallEvent] | None:
        out: list[CallEvent] = []
        ch = self._channel(msg, at, out)
        if ch is not None:
            self._update_cid(ch, msg)
        return out

    def _update_cid(self, ch: _Channel, msg: AmiMessage) -> None:
        num = _known(msg.get("CallerIDNum"))
        if num is not None:
            ch.cid_num = num
        name = _known(msg.get("CallerIDName"))
        if name is not None:
            ch.cid_name = name

    def _rename(self, msg: AmiMessage, at: datetime) -> None:
        ch = self._channels.get(msg.get("Uniqueid"))  # type: ignore[arg-type]
        new = msg.get("Newname")
        if ch is not None and new:
            ch.name = new
            call = self._calls.get(ch.linkedid)
            if call is not None and new not in call.names:
                call.names.append(new)

    def _localbridge(self, msg: AmiMessage, at: datetime) -> None:
        one = self._channels.get(msg.get("LocalOneUniqueid"))  # type: ignore[arg-type]
        two = self._channels.get(msg.get("LocalTwoUniqueid"))  # type: ignore[arg-type]
        if one is not None and two is not None:
            one.peer, two.peer = two, one

    def _dialbegin(self, msg: AmiMessage, at: datetime) -> list[CallEvent] | None:
        out: list[CallEvent] = []
        dest = self._channels.get(msg.get("DestUniqueid"))  # type: ignore[arg-type]
        if dest is None:
            return out
        if dest.linkedid != msg.get("DestLinkedid", dest.linkedid):
            self._relink(dest, msg["DestLinkedid"], at, out)
        number = msg.get("DialString") or ""
        # "1001", "1001/sip:1001@host", "1001@context": the dialled name comes first.
        dest.dialled_number = number.split("/", 1)[0].split("@", 1)[0] or None
        dialler_uid = msg.get("Uniqueid")
        call = self._calls.get(dest.linkedid)
        if call is None:
            return out
        if dialler_uid is None:
            # An originate: the dialled channel is where the call starts, not a party.
            if dest.uniqueid == call.caller_uid:
                call.originated = True
            return out
        dialler = self._channels.get(dialler_uid)
        if dialler is None:
            return out
        dest.dialled_by = dialler_uid
        dialler.dialled = True
        if call.originated and dialler_uid == call.caller_uid and dialler.peer is not None:
            self._click_to_call(call, dialler, msg)
        if call.destination is None and dialler_uid in self._caller_leg(call):
            exten = msg.get("Exten")
            call.destination = (None if exten in _NO_EXTEN else exten) or dest.dialled_number
        if dest.ringing:
            self._ringing(call, dest, at, out)
        return out

    def _click_to_call(self, call: TrackedCall, half: _Channel, msg: AmiMessage) -> None:
        """The originated Local half dials: its other half rang the real caller first."""
        peer = half.peer.uniqueid if half.peer is not None else None
        phone = next(
            (
                c
                for c in self._channels.values()
                if c.dialled_by == peer and c.linkedid == call.call_id and not self._is_local(c)
            ),
            None,
        )
        if phone is None:
            return
        call.caller = phone
        exten = msg.get("Exten")
        call.destination = None if exten in _NO_EXTEN else exten
        call.answered_uid = call.answered_party = call.answered_at = None
        call.rang.pop(phone.uniqueid, None)
        call.dial_statuses.clear()
        call.state = CallState.DIALLING

    def _ringing(self, call: TrackedCall, ch: _Channel, at: datetime, out: list[CallEvent]) -> None:
        if ch.rang or self._is_local(ch) or ch.uniqueid in self._caller_leg(call):
            return
        ch.rang = True
        self._announce(call, out)
        party = self._party_of(call, ch)
        call.rang[ch.uniqueid] = party
        if call.state is CallState.DIALLING:
            call.state = CallState.RINGING
        out.append(CallRinging(call.call_id, party, at))

    def _dialend(self, msg: AmiMessage, at: datetime) -> list[CallEvent] | None:
        out: list[CallEvent] = []
        dest = self._channels.get(msg.get("DestUniqueid"))  # type: ignore[arg-type]
        dialler = self._channels.get(msg.get("Uniqueid"))  # type: ignore[arg-type]
        if dest is None or dialler is None:
            return out
        call = self._calls.get(dialler.linkedid)
        if call is None:
            return out
        status = msg.get("DialStatus", "")
        if status != "ANSWER":
            if status:
                call.dial_statuses.append(status)
            return out
        if dest.linkedid != call.call_id:
            # A pickup: the picking phone's channel answers in place of the one that
            # rang, and joins this call (Asterisk re-links it a moment later).
            self._relink(dest, call.call_id, at, out)
        self._answered(call, dest, at, out)
        return out

    def _answered(
        self, call: TrackedCall, ch: _Channel, at: datetime, out: list[CallEvent]
    ) -> None:
        if call.answered_uid is not None or self._is_local(ch):
            return
        if ch.uniqueid in self._caller_leg(call):
            return
        self._announce(call, out)
        party = self._party_of(call, ch)
        if ch.uniqueid not in call.rang:
            call.rang[ch.uniqueid] = party
        call.answered_uid = ch.uniqueid
        call.answered_party = party
        call.answered_at = at
        call.state = CallState.ANSWERED
        out.append(CallAnswered(call.call_id, party, at))

    def _bridgeenter(self, msg: AmiMessage, at: datetime) -> list[CallEvent] | None:
        out: list[CallEvent] = []
        ch = self._channel(msg, at, out)
        if ch is not None:
            ch.bridge = msg.get("BridgeUniqueid")
            ch.bridged = True
        return out

    def _bridgeleave(self, msg: AmiMessage, at: datetime) -> list[CallEvent] | None:
        out: list[CallEvent] = []
        ch = self._channel(msg, at, out)
        if ch is not None and ch.bridge == msg.get("BridgeUniqueid"):
            ch.bridge = None
        return out

    def _infer_answer(self, call: TrackedCall, at: datetime, out: list[CallEvent]) -> None:
        """A call found in progress: its caller bridged with a party means answered."""
        leg = self._caller_leg(call)
        bridges = {self._channels[u].bridge for u in leg if u in self._channels} - {None}
        if not bridges:
            return
        for ch in list(call.live.values()):
            if ch.bridge in bridges and ch.uniqueid not in leg and not self._is_local(ch):
                self._answered(call, ch, at, out)
                return

    def _hanguprequest(self, msg: AmiMessage, at: datetime) -> list[CallEvent] | None:
        out: list[CallEvent] = []
        ch = self._channel(msg, at, out)
        if ch is None:
            return out
        call = self._calls.get(ch.linkedid)
        if call is None or call.hangup_by != "unknown" or ch.uniqueid in call.transferers:
            return out
        source = ch
        if ch.peer is not None:
            # A request on a Local half is raised by its other half hanging up. That
            # half speaks for a side only if it is an endpoint (it runs an application
            # playing a caller or a callee); a half that dialled or was bridged is a
            # pass-through relaying a hang-up from further on, or being optimised away.
            other = ch.peer
            if other.dialled or other.bridged:
                return out
            source = other
        call.hangup_by = "caller" if source.uniqueid in self._caller_leg(call) else "callee"
        call.hangup_uid = ch.uniqueid
        return out

    def _hangup(self, msg: AmiMessage, at: datetime) -> list[CallEvent] | None:
        out: list[CallEvent] = []
        ch = self._channel(msg, at, out)
        if ch is None:
            return out
        cause: int | None
        try:
            cause = int(msg.get("Cause", ""))
        except ValueError:
            cause = None
        out.extend(self._remove(ch, at, cause, msg.get("Cause-txt")))
        return out

    def _remove(
        self, ch: _Channel, at: datetime, cause: int | None, cause_txt: str | None
    ) -> list[CallEvent]:
        self._channels.pop(ch.uniqueid, None)
        call = self._calls.get(ch.linkedid)
        if call is None:
            return []
        if call.first_cause is None and cause is not None:
            call.first_cause = (cause, cause_txt)
        if ch.uniqueid == call.caller_uid:
            call.caller_cause = (cause, cause_txt)
        call.live.pop(ch.uniqueid, None)
        call.hung_up_any = True
        if call.live:
            return []
        return self._end(call, at)

    def _blindtransfer(self, msg: AmiMessage, at: datetime) -> list[CallEvent] | None:
        if msg.get("Result") != "Success":
            return None
        call = self._call_of(msg, "Transferer")
        if call is None:
            return None
        transfer = Transfer("blind", msg.get("TransfererChannel", ""), msg.get("Extension"), at)
        return self._transferred(call, transfer, (msg.get("TransfererUniqueid"),), at)

    def _attendedtransfer(self, msg: AmiMessage, at: datetime) -> list[CallEvent] | None:
        if msg.get("Result") != "Success":
            return None
        call = self._call_of(msg, "OrigTransferer")
        if call is None:
            return None
        transfer = Transfer(
            "attended",
            msg.get("OrigTransfererChannel", ""),
            self._attended_target(msg, call),
            at,
        )
        transferers = (msg.get("OrigTransfererUniqueid"), msg.get("SecondTransfererUniqueid"))
        return self._transferred(call, transfer, transferers, at)

    def _transferred(
        self,
        call: TrackedCall,
        transfer: Transfer,
        transferers: tuple[str | None, ...],
        at: datetime,
    ) -> list[CallEvent]:
        out: list[CallEvent] = []
        self._announce(call, out)
        call.transfers.append(transfer)
        call.transferers.update(t for t in transferers if t)
        if call.hangup_uid in call.transferers:
            # The transferer hanging up is how an attended transfer completes (the
            # request comes before the transfer event); it did not end the call.
            call.hangup_by, call.hangup_uid = "unknown", None
        out.append(CallTransferred(call.call_id, transfer))
        return out

    def _attended_target(self, msg: AmiMessage, call: TrackedCall) -> str | None:
        """Where an attended transfer went: what the consultation dialled."""
        consult = self._calls.get(msg.get("SecondTransfererLinkedid", ""))
        if consult is not None and consult is not call and consult.destination:
            return consult.destination
        target = self._channels.get(msg.get("TransferTargetUniqueid", ""))
        if target is None:
            # Asterisk leaves the target out of the event when the consultation is
            # still settling into the bridge; the target is then the newcomer in the
            # bridge the transfer ended in.
            known = {
                msg.get("TransfereeUniqueid"),
                msg.get("OrigTransfererUniqueid"),
                msg.get("SecondTransfererUniqueid"),
            }
            bridge = msg.get("DestBridgeUniqueid")
            target = next(
                (
                    c
                    for c in call.live.values()
                    if bridge and c.bridge == bridge and c.uniqueid not in known
                ),
                None,
            )
        if target is not None and (target.dialled_number or target.exten):
            return target.dialled_number or target.exten
        return _known(msg.get("TransferTargetCallerIDNum"))

    def _call_of(self, msg: AmiMessage, prefix: str) -> TrackedCall | None:
        ch = self._channels.get(msg.get(prefix + "Uniqueid", ""))
        linkedid = ch.linkedid if ch is not None else msg.get(prefix + "Linkedid", "")
        return self._calls.get(linkedid)

    # -- the end ---------------------------------------------------------------------

    def _end(self, call: TrackedCall, at: datetime) -> list[CallEvent]:
        out: list[CallEvent] = []
        self._announce(call, out)
        del self._calls[call.call_id]
        call.state = CallState.ENDED
        cause, cause_txt = call.caller_cause or call.first_cause or (None, None)
        record = CallRecord(
            call_id=call.call_id,
            caller=self._caller_party(call),
            destination=call.destination,
            answered_by=call.answered_party,
            disposition=self._disposition(call, cause),
            hangup_by=call.hangup_by,
            hangup_cause=cause,
            hangup_cause_text=cause_txt,
            started_at=call.started_at,
            answered_at=call.answered_at,
            ended_at=at,
            transfers=tuple(call.transfers),
            channels=tuple(call.names),
            rang=tuple(call.rang.values()),
            closed_by_resync=call.closed_by_resync,
        )
        out.append(CallEnded(call.call_id, record))
        return out

    @staticmethod
    def _disposition(call: TrackedCall, cause: int | None) -> Disposition:
        if call.answered_party is not None:
            return "answered"
        if call.hangup_by == "caller":
            return "cancelled"
        statuses = call.dial_statuses
        if "NOANSWER" in statuses:
            return "no_answer"
        if "BUSY" in statuses:
            return "busy"
        if "CANCEL" in statuses:
            return "cancelled"
        if any(s in _FAILED_DIAL for s in statuses):
            return "failed"
        if cause in _BUSY_CAUSES:
            return "busy"
        if cause is None or cause in _NO_ANSWER_CAUSES:
            return "no_answer"
        return "failed"
