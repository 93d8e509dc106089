"""Who may see and act on what, decided on the server for every request — by the
customer API and the operator workspace alike, from this one place.

An operator sees the interactions offered to them or held by them, and the customers
those belong to (with their timelines and conversations); a supervisor also those of
the departments they supervise; an admin everything. What somebody may not see does not
exist for them: the handlers answer 404, never telling another's data from no data.

It lives beside the customer store because the store is the lowest package every API
showing customers uses, and who sees a customer is decided by the customer's
interactions (routing's tables, read here, never written).
"""

from __future__ import annotations

import asyncpg

from routing.admin import RoutingAdmin
from server.auth import User

from . import repository


class NotVisible(LookupError):
    pass


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

    async def check_interaction(
        self, conn: asyncpg.Connection, user: User, interaction_id: int, department_id: int
    ) -> None:
        if await repository.agent_sees_interaction(conn, interaction_id, user.id):
            return
        if department_id in await self.departments(conn, user):
            return
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
