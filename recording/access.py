"""Who may see, play and control which recordings. Pure; no I/O.

The call journal's rule (``GET /api/v1/calls``): supervisors and admins see every
call; an operator sees the calls their own phone (SIP endpoint) took part in, and an
operator without a phone sees none. A recording is visible to whoever may see its call.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from server.auth import User

__all__ = ["Scope"]


@dataclass(frozen=True)
class Scope:
    everything: bool
    endpoint: str | None = None

    @classmethod
    def of(cls, user: User) -> Scope:
        if user.has_role("supervisor"):
            return cls(everything=True)
        return cls(everything=False, endpoint=user.sip_endpoint)

    @property
    def nothing(self) -> bool:
        return not self.everything and self.endpoint is None

    def sees_call(self, call_endpoints: Collection[str] | None) -> bool:
        """``call_endpoints``: the endpoints that took part (None: not in the journal)."""
        if self.everything:
            return True
        return (
            self.endpoint is not None
            and call_endpoints is not None
            and self.endpoint in call_endpoints
        )
