"""Who may see and act on what, decided on the server for every request — by every API
(customers, the workspace, routing, calls, recordings, voicemail, agents) from this one
place.

An operator sees the interactions offered to them or held by them (not those they
finished), and the customers those belong to (with their timelines and conversations); a
supervisor also those of the departments they supervise; an admin everything. Agents:
oneself, a supervisor the agents of their departments, an admin all. Calls (the journal,
recordings, voicemail): see :class:`CallScope`. What somebody may not see does not exist
for them: the handlers answer 404, never telling another's data from no data.

It lives beside the customer store because the store is the lowest package every API
showing customers uses, and who sees a customer is decided by the customer's
interactions (routing's tables, read here, never written). The HTTP handlers of every
package, routing's and pbx's too, find it at request time as ``app[ACCESS]``; no
package's services depend on it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import asyncpg

from routing.admin import RoutingAdmin
from server.auth import User

from . import repository


class NotVisible(LookupError):
    pass


@dataclass(frozen=True)
class CallScope:
    """Which calls somebody sees, and so their recordings and voicemail.

    An admin every call. Anybody the calls their own phone (SIP endpoint) took part in.
    A supervisor also the calls of the departments they supervise: a call's department
    is that of its interaction in the unified queue (a recording's and a voicemail's is
    their own). A call of no department — between two agents, a click-to-call, one given
    up in the IVR before a department was chosen — is seen by admins and by those whose
    phone took part, not by supervisors.
    """

    everything: bool
    endpoint: str | None = None
    departments: frozenset[int] = frozenset()

    @property
    def nothing(self) -> bool:
        return not self.everything and self.endpoint is None and not self.departments

    def sees_call(
        self, call_endpoints: Collection[str] | None, department_id: int | None = None
    ) -> bool:
        """``call_endpoints``: the endpoints that took part (None: not in the journal)."""
        if self.everything:
            return True
        if department_id is not None and department_id in self.departments:
            return True
        return (
            self.endpoint is not None
            and call_endpoints is not None
            and self.endpoint in call_endpoints
        )


EVERY_CALL = CallScope(everything=True)


class Access:
    def __init__(self, admin: RoutingAdmin) -> None:
        self._admin = admin

    async def departments(self, conn: asyncpg.Connection, user: User) -> list[int]:
        """The departments whose interactions the user sees besides their own."""
        if user.has_role("admin"):
            return await self._admin.all_department_ids(conn)
        if user.has_role("supervisor"):
            return sorted(await self._admin.departments_of_supervisor(conn, user.id))
        return []

    async def sees_department(
        self, conn: asyncpg.Connection, user: User, department_id: int
    ) -> bool:
        return department_id in await self.departments(conn, user)

    async def sees_interaction(
        self, conn: asyncpg.Connection, user: User, interaction_id: int, department_id: int
    ) -> bool:
        if await repository.agent_sees_interaction(conn, interaction_id, user.id):
            return True
        return await self.sees_department(conn, user, department_id)

    async def check_interaction(
        self, conn: asyncpg.Connection, user: User, interaction_id: int, department_id: int
    ) -> None:
        if not await self.sees_interaction(conn, user, interaction_id, department_id):
            raise NotVisible(interaction_id)

    async def sees_customer(self, conn: asyncpg.Connection, user: User, customer_id: int) -> bool:
        """A customer merged into another is seen as the survivor: whoever sees the
        survivor's interactions (its own and the merged ones') sees it."""
        if user.has_role("admin"):
            return True
        survivor = await repository.surviving_id(conn, customer_id)
        if survivor is None:
            return False
        departments = await self.departments(conn, user)
        return await repository.customer_visible(conn, survivor, user.id, departments)

    async def check_customer(self, conn: asyncpg.Connection, user: User, customer_id: int) -> None:
        if not await self.sees_customer(conn, user, customer_id):
            raise NotVisible(customer_id)

    async def may_act(
        self,
        conn: asyncpg.Connection,
        user: User,
        agent_id: int | None,
        department_id: int,
    ) -> bool:
        """Act on an interaction (answer a chat, close, transfer): its agent, or a
        supervisor of its department."""
        if agent_id == user.id:
            return True
        return department_id in await self.departments(conn, user)

    async def sees_agent(self, conn: asyncpg.Connection, user: User, agent_id: int) -> bool:
        """See and manage an agent (state, profile, status): oneself, a supervisor the
        agents of their departments, an admin all."""
        if agent_id == user.id or user.has_role("admin"):
            return True
        departments = await self.departments(conn, user)
        return bool(departments) and agent_id in await repository.agents_of_departments(
            conn, departments
        )

    async def agents(self, conn: asyncpg.Connection, user: User) -> set[int] | None:
        """The agents the user sees (:meth:`sees_agent`); None: all of them."""
        if user.has_role("admin"):
            return None
        departments = await self.departments(conn, user)
        return {user.id} | await repository.agents_of_departments(conn, departments)

    async def calls(self, conn: asyncpg.Connection, user: User) -> CallScope:
        if user.has_role("admin"):
            return EVERY_CALL
        return CallScope(
            everything=False,
            endpoint=user.sip_endpoint,
            departments=frozenset(await self.departments(conn, user)),
        )

    async def supervises_call(self, conn: asyncpg.Connection, user: User, call_id: str) -> bool:
        """Control a call in progress (pause its recording) as its supervisor: the call's
        interaction, in service now, is of a department the user supervises; an admin
        any call."""
        if user.has_role("admin"):
            return True
        departments = await self.departments(conn, user)
        return bool(departments) and await repository.call_in_service_of(conn, call_id, departments)
