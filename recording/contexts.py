"""What routing said about the calls it offered to agents: department and customer, by
call id. Pure; no I/O.

Routing's offers come before the call's first event as pbx sees it (the agent's phone
rings only after the offer), and every server process sees every offer, also those of
calls on another process's Asterisk, so entries are forgotten by age as well as when
the call ends.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["CallContext", "CallContexts"]


@dataclass(frozen=True)
class CallContext:
    department_id: int
    customer_id: int
    interaction_id: int
    at: datetime


class CallContexts:
    def __init__(self, max_age: timedelta = timedelta(hours=6), max_size: int = 10_000) -> None:
        self._max_age = max_age
        self._max_size = max_size
        self._by_call: OrderedDict[str, CallContext] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_call)

    def note(self, call_id: str, context: CallContext) -> None:
        """The latest offer of a call wins (a requeued call may change department)."""
        self._by_call.pop(call_id, None)
        self._by_call[call_id] = context
        oldest_kept = context.at - self._max_age
        while self._by_call:
            first = next(iter(self._by_call.values()))
            if first.at >= oldest_kept and len(self._by_call) <= self._max_size:
                break
            self._by_call.popitem(last=False)

    def get(self, call_id: str) -> CallContext | None:
        return self._by_call.get(call_id)

    def forget(self, call_id: str) -> None:
        self._by_call.pop(call_id, None)
