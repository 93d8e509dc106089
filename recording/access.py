"""Who may see, play and control which recordings: the one rule of
:mod:`crm_connectors.access`, whose ``CallScope`` is the scope here.

A recording is visible to whoever may see its call in the journal (``GET
/api/v1/calls``): an admin every call; anybody the calls their own phone took part in; a
supervisor also the calls of their departments. A recording whose call has no journal
row yet is nobody's but the admins'. The recording of a call in progress is paused and
resumed by the agents whose phone is on it, the supervisors of the department of its
interaction, and admins.
"""

from __future__ import annotations

from crm_connectors.access import EVERY_CALL, CallScope

__all__ = ["EVERY_CALL", "Scope"]

Scope = CallScope
