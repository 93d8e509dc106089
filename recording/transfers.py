"""Which phones' channels are in a bridge right now, read from AMI events. Pure; no I/O.

After a transfer the customer talks to another agent, on a channel of its own that
pbx's call events do not announce (the tracker answers a call once). The recorder
needs that channel once it is bridged: a blind transfer's target enters a bridge with
the customer when it answers; an attended transfer's target is already bridged (with
the consultation) when the transfer completes, and moves to the customer's bridge
after. Events as Asterisk 22 sends them (tests/pbx/captures/*_transfer.ami).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from pbx.journal import endpoint_of

__all__ = ["BridgedChannel", "BridgedChannels"]

_WATCHED = frozenset(("BridgeEnter", "BridgeLeave", "Hangup", "Rename"))


@dataclass(frozen=True)
class BridgedChannel:
    uniqueid: str
    channel: str
    # The call it belongs to (Asterisk's Linkedid, the journal's call id).
    call_id: str
    endpoint: str
    bridge: str
    # It entered in place of another channel (a Local channel optimised away): the
    # same conversation, in another bridge.
    swapped: bool = False


class BridgedChannels:
    def __init__(self) -> None:
        self._by_uid: dict[str, BridgedChannel] = {}

    def __len__(self) -> int:
        return len(self._by_uid)

    def feed(self, msg: Mapping[str, str]) -> BridgedChannel | None:
        """Apply one AMI event; returns the phone channel that just entered a bridge."""
        event = msg.get("Event")
        if event not in _WATCHED:
            return None
        uid = msg.get("Uniqueid") or ""
        if event == "BridgeEnter":
            endpoint = endpoint_of(msg.get("Channel", ""))
            if endpoint is None or not uid:
                # Local channels are not phones: the agent is on the far side of one.
                return None
            entered = BridgedChannel(
                uid,
                msg["Channel"],
                msg.get("Linkedid") or uid,
                endpoint,
                msg.get("BridgeUniqueid", ""),
                swapped=bool(msg.get("SwapUniqueid")),
            )
            self._by_uid[uid] = entered
            return entered
        if event == "Rename":
            known = self._by_uid.get(uid)
            new = msg.get("Newname")
            if known is not None and new:
                self._by_uid[uid] = replace(known, channel=new)
            return None
        # BridgeLeave or Hangup. A channel moved to another bridge (a swap, a merge)
        # leaves first and enters the other right after, which adds it again.
        self._by_uid.pop(uid, None)
        return None

    def bridged(self, call_id: str, endpoint: str) -> list[BridgedChannel]:
        """The channels of ``endpoint`` in a bridge in call ``call_id``."""
        return [c for c in self._by_uid.values() if c.call_id == call_id and c.endpoint == endpoint]

    def bridge_of(self, channel: str) -> str | None:
        """The bridge ``channel`` is in, if it is in one."""
        return next((c.bridge for c in self._by_uid.values() if c.channel == channel), None)

    def clear(self) -> None:
        """Forget everything (AMI was lost: hang-ups may have gone unseen)."""
        self._by_uid.clear()
