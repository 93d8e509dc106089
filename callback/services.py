"""The web callback's business logic: requests in, the queue, attempts, the outcome.

A request is stored and, in working hours, queued as a ``callback`` interaction in the
same transaction (routing's outbox publishes routing's events after the commit); after
hours it is ``scheduled`` and queued by :meth:`CallbackService.enqueue_due` when its
time comes. Each attempt is one agent who answered (the offer routing made) and the
visitor dialled after; the attempt's result decides: completed, retried later, or
failed. Every transition is a guarded statement, so a result reported twice, or by two
processes, settles once — and so every request ends exactly once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from crm_connectors.store import CustomerStore
from ivr.schedule import Schedule
from routing import repository as routing_repository
from routing.errors import RoutingError
from routing.models import Interaction, NewInteraction
from routing.overview import QueueOverview
from routing.services import RoutingService
from server.config import TimersConfig

from . import repository
from .config import CallbackConfig, SiteConfig
from .events import CallbackAttemptEnded, CallbackFinished, CallbackRequested, CallbackRescheduled
from .numbers import NumberRefused, normalise

log = logging.getLogger("callback.services")

Publish = Callable[[object], None]
IVR_SITE = "ivr"
# A preferred time this close to now is "now".
_NOW_SLACK = timedelta(minutes=1)
_DUE_BATCH = 20
# Interaction states a request's cancellation takes out of the queue.
_WITHDRAWABLE = ("queued", "requeued", "offered")


class Refused(Exception):
    """A request we do not take; ``reason`` is for the visitor, ``status`` for HTTP."""

    def __init__(self, reason: str, status: int = 422) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class CallbackForm:
    phone: str
    name: str = ""
    page: str = ""
    comment: str = ""
    preferred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AttemptGo:
    """An attempt may dial: the visitor's number and the attempt's number."""

    phone: str
    number: int


def _digest(cancel_key: str) -> bytes:
    return hashlib.sha256(cancel_key.encode()).digest()


def _refs(request: asyncpg.Record) -> dict[str, str]:
    """What the operator's card shows (workspace.cards): the visitor's words."""
    refs = {"callback_id": str(request["id"]), "phone": request["phone"]}
    for key in ("name", "page", "comment"):
        if request[key]:
            refs[key] = request[key]
    return refs


class CallbackService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        routing: RoutingService,
        overview: QueueOverview,
        customers: CustomerStore,
        config: CallbackConfig,
        timers: TimersConfig,
        clock: Callable[[], datetime],
        publish: Publish,
    ) -> None:
        self._pool = pool
        self._routing = routing
        self._overview = overview
        self._customers = customers
        self.config = config
        self._timers = timers
        self._clock = clock
        self._publish = publish
        self._schedules: dict[str, Schedule | None] = {
            site.key: site.parsed_schedule() for site in config.sites
        }
        self._schedules[IVR_SITE] = (
            Schedule.from_dict(config.ivr_schedule) if config.ivr_schedule else None
        )

    # --- requests ---------------------------------------------------------------------

    async def submit(
        self, site: SiteConfig, form: CallbackForm, client_ip: str
    ) -> tuple[dict[str, Any], bool]:
        """The visitor's request (created, or the pending one of the number) and whether
        it was created now. Raises :class:`Refused`."""
        now = self._clock()
        window = now - timedelta(seconds=self.config.limit_window_s)
        async with self._pool.acquire() as conn:
            await repository.add_hit(conn, client_ip, now)
            if await repository.hits_since(conn, client_ip, window) > self.config.ip_limit:
                raise Refused("too many requests from your address; try again later", 429)
            try:
                phone = normalise(form.phone, site.countries)
            except NumberRefused as exc:
                raise Refused(str(exc)) from None
            existing = await repository.pending_for_phone(conn, phone)
            if existing is not None:
                return await self._view(conn, existing), False
            if await repository.requests_since(conn, phone, window) >= self.config.number_limit:
                raise Refused("this number was called back recently; try again later", 429)
            start = self._start_time(self._schedules.get(site.key), now, form.preferred_at)
            cancel_key = secrets.token_urlsafe(24)
            customer = await self._customers.resolve_customer(conn, "phone", phone, form.name)
            async with self._routing.transaction(conn):
                row = await repository.insert_request(
                    conn,
                    site=site.key,
                    phone=phone,
                    name=form.name,
                    page=form.page,
                    comment=form.comment,
                    preferred_at=form.preferred_at,
                    status="queued" if start is None else "scheduled",
                    next_attempt_at=start,
                    customer_id=customer.id,
                    department_id=site.department_id,
                    priority=site.priority,
                    client_ip=client_ip,
                    now=now,
                    cancel_key_sha256=_digest(cancel_key),
                )
                if row is not None and start is None:
                    row = await self._enqueue(conn, row, now)
            if row is None:
                # A request for the number came in between our look and our insert.
                existing = await repository.pending_for_phone(conn, phone)
                if existing is None:
                    raise Refused("try again", 409)
                return await self._view(conn, existing), False
            view = await self._view(conn, row)
        # Only the page that made the request gets the key that withdraws it.
        view["cancel_key"] = cancel_key
        log.info("callback requested id=%s site=%s status=%s", row["id"], site.key, row["status"])
        self._publish(
            CallbackRequested(
                str(row["id"]), row["customer_id"], site.key, phone, row["status"], start, now
            )
        )
        return view, True

    async def status(self, request_id: UUID) -> dict[str, Any] | None:
        async with self._pool.acquire() as conn:
            row = await repository.get(conn, request_id)
            return None if row is None else await self._view(conn, row)

    async def cancel(self, request_id: UUID, cancel_key: str) -> dict[str, Any] | None:
        """The visitor changed their mind: the request ends as cancelled (a phone ringing
        for it stops, routing withdraws the offer). None: no such request; Refused without
        the key its creation handed out, or once the visitor's phone is being dialled. An
        ended request is returned as it is."""
        now = self._clock()
        async with self._pool.acquire() as conn:
            async with self._routing.transaction(conn):
                row = await repository.lock(conn, request_id)
                if row is None:
                    return None
                stored = row["cancel_key_sha256"]
                if stored is None or not hmac.compare_digest(stored, _digest(cancel_key)):
                    raise Refused("only the page that made this request may cancel it", 403)
                if row["status"] in repository.FINAL:
                    return await self._view(conn, row)
                if await repository.has_open_attempt(conn, request_id):
                    raise Refused("we are calling you already", 409)
                if row["interaction_id"] is not None:
                    current = await routing_repository.get_interaction(conn, row["interaction_id"])
                    if current is not None and current["state"] in _WITHDRAWABLE:
                        await self._routing.abandon(conn, row["interaction_id"], "cancelled")
                row = await repository.finish(conn, request_id, "cancelled", "cancelled", now)
                assert row is not None
            view = await self._view(conn, row)
        log.info("callback cancelled id=%s", request_id)
        self._publish(
            CallbackFinished(
                str(request_id), row["customer_id"], "cancelled", "cancelled", row["attempts"], now
            )
        )
        return view

    async def _view(self, conn: asyncpg.Connection, row: asyncpg.Record) -> dict[str, Any]:
        """The visitor's view of their request: nothing about anyone else's."""
        view: dict[str, Any] = {
            "id": str(row["id"]),
            "status": row["status"],
            "attempts": row["attempts"],
            "scheduled_for": (
                row["next_attempt_at"].isoformat() if row["status"] == "scheduled" else None
            ),
            "position": None,
            "estimated_wait_s": None,
            "outcome": row["outcome"] if row["status"] in repository.FINAL else None,
        }
        if row["status"] == "queued" and row["interaction_id"] is not None:
            try:
                place = await self._overview.position_and_wait(conn, row["interaction_id"])
            except RoutingError:
                return view
            view["position"] = place.position
            view["estimated_wait_s"] = place.estimated_wait_s
        return view

    def _start_time(
        self, schedule: Schedule | None, now: datetime, preferred: datetime | None
    ) -> datetime | None:
        """When the request enters the queue: None for now."""
        target = preferred if preferred is not None and preferred > now + _NOW_SLACK else now
        if target > now + timedelta(days=self.config.max_schedule_ahead_days):
            raise Refused("choose a time within the next days")
        if schedule is None or schedule.is_open(target):
            return None if target is now else target
        opening = schedule.next_opening(target)
        if opening is None:
            raise Refused("we have no working hours to call you in")
        return opening

    async def _enqueue(
        self, conn: asyncpg.Connection, row: asyncpg.Record, now: datetime
    ) -> asyncpg.Record:
        """Inside the caller's routing transaction: the request's new interaction."""
        interaction = await self._routing.enqueue(
            conn,
            NewInteraction(
                channel="callback",
                customer_id=row["customer_id"],
                department_id=row["department_id"],
                priority=row["priority"],
                external_refs=_refs(row),
            ),
        )
        queued = await repository.set_queued(conn, row["id"], interaction.id, now)
        assert queued is not None
        return queued

    async def enqueue_due(self) -> int:
        """Queue the scheduled requests whose time has come; how many were."""
        now = self._clock()
        count = 0
        async with self._pool.acquire() as conn, self._routing.transaction(conn):
            for row in await repository.due(conn, now, _DUE_BATCH):
                schedule = self._schedules.get(row["site"])
                if schedule is not None and not schedule.is_open(now):
                    opening = schedule.next_opening(now)
                    if opening is not None:
                        await repository.postpone(conn, row["id"], opening, now)
                        continue
                await self._enqueue(conn, row, now)
                count += 1
        if count:
            log.info("callbacks due queued count=%s", count)
        return count

    # --- offers and attempts ----------------------------------------------------------

    async def adopt(self, interaction_id: int) -> asyncpg.Record | None:
        """A ``callback`` interaction without a request (the IVR's "press 1"): its
        request, created now. None when the number cannot be called (the interaction is
        abandoned) or already has a pending request (this one is abandoned as a double)."""
        now = self._clock()
        async with self._pool.acquire() as conn:
            interaction = await self._routing.get_interaction(conn, interaction_id)
            try:
                phone = normalise(
                    interaction.external_refs.get("phone", ""), (), self.config.default_region
                )
            except NumberRefused as exc:
                await self._abandon(conn, interaction, f"number not callable: {exc}")
                return None
            async with self._routing.transaction(conn):
                row = await repository.insert_request(
                    conn,
                    site=IVR_SITE,
                    phone=phone,
                    name="",
                    page="",
                    comment="",
                    preferred_at=None,
                    status="queued",
                    next_attempt_at=None,
                    customer_id=interaction.customer_id,
                    department_id=interaction.department_id,
                    priority=interaction.priority,
                    client_ip=None,
                    now=now,
                )
                if row is not None:
                    row = await repository.set_queued(conn, row["id"], interaction.id, now)
            if row is None:
                await self._abandon(conn, interaction, "the number has a callback pending")
                return None
        log.info("callback adopted id=%s interaction_id=%s", row["id"], interaction_id)
        self._publish(
            CallbackRequested(
                str(row["id"]), row["customer_id"], IVR_SITE, phone, "queued", None, now
            )
        )
        return row

    async def _abandon(
        self, conn: asyncpg.Connection, interaction: Interaction, reason: str
    ) -> None:
        log.warning("callback interaction_id=%s dropped: %s", interaction.id, reason)
        try:
            await self._routing.abandon(conn, interaction.id, reason)
        except RoutingError:
            pass

    async def drop_if_ended(self, interaction_id: int) -> None:
        async with self._pool.acquire() as conn:
            row = await repository.by_interaction(conn, interaction_id)
            if row is None or row["status"] not in repository.FINAL:
                return
            interaction = await self._routing.get_interaction(conn, interaction_id)
            if interaction.state in _WITHDRAWABLE:
                await self._abandon(conn, interaction, f"callback request {row['status']}")

    async def interaction_ended(self, interaction_id: int, status: str, outcome: str) -> None:
        """Routing ended a request's interaction unserved (its department's max wait, a
        supervisor's abandon): the request ends with it, unless an attempt is going on."""
        now = self._clock()
        async with self._pool.acquire() as conn:
            row = await repository.by_interaction(conn, interaction_id)
            if row is None or row["status"] in repository.FINAL:
                return
            if await repository.has_open_attempt(conn, row["id"]):
                return
            ended = await repository.finish(conn, row["id"], status, outcome, now)
        if ended is not None:
            log.info("callback id=%s ended with its interaction: %s", row["id"], outcome)
            self._publish(
                CallbackFinished(
                    str(row["id"]), row["customer_id"], status, outcome, row["attempts"], now
                )
            )

    async def request_of(self, interaction_id: int) -> asyncpg.Record | None:
        async with self._pool.acquire() as conn:
            return await repository.by_interaction(conn, interaction_id)

    async def claim_offer(self, interaction_id: int, offer_id: int) -> asyncpg.Record | None:
        async with self._pool.acquire() as conn:
            return await repository.claim_offer(conn, interaction_id, offer_id, self._clock())

    async def endpoint_of_agent(self, agent_id: int) -> str | None:
        async with self._pool.acquire() as conn:
            return await repository.endpoint_of_agent(conn, agent_id)

    async def offer_unanswered(self, interaction_id: int, offer_id: int, agent_id: int) -> None:
        """The agent's phone did not take the call: decline the offer (routing offers the
        next agent, same place) and the request waits again."""
        async with self._pool.acquire() as conn:
            try:
                await self._routing.decline(conn, offer_id, agent_id)
            except RoutingError:
                pass
            await repository.release_offer(conn, interaction_id, offer_id, self._clock())

    async def offer_ended(self, interaction_id: int, offer_id: int) -> None:
        async with self._pool.acquire() as conn:
            await repository.release_offer(conn, interaction_id, offer_id, self._clock())

    async def start_attempt(
        self, request_id: UUID, offer_id: int, endpoint: str, channel: str, call_id: str
    ) -> AttemptGo | None:
        """The agent answered: accept the offer and record the attempt, in one
        transaction, before the visitor is dialled. None: do not dial (the offer closed,
        the request moved on)."""
        now = self._clock()
        async with self._pool.acquire() as conn:
            agent_id = await repository.agent_of_endpoint(conn, endpoint)
            if agent_id is None:
                return None
            try:
                async with self._routing.transaction(conn):
                    request = await repository.lock(conn, request_id)
                    if (
                        request is None
                        or request["status"] != "calling"
                        or request["offer_id"] != offer_id
                    ):
                        return None
                    await self._routing.accept(conn, offer_id, agent_id)
                    number = await repository.start_attempt(
                        conn,
                        request,
                        offer_id=offer_id,
                        agent_id=agent_id,
                        channel=channel,
                        call_id=call_id,
                        now=now,
                    )
            except RoutingError as exc:
                log.warning("callback id=%s offer %s not accepted: %s", request_id, offer_id, exc)
                return None
        log.info("callback dialling id=%s attempt=%s agent=%s", request_id, number, agent_id)
        return AttemptGo(request["phone"], number)

    async def settle_attempt(self, request_id: UUID, offer_id: int, result: str) -> bool:
        """The attempt's result from Asterisk; False when it had been settled before."""
        now = self._clock()
        answered = result == "ANSWER"
        events: list[object] = []
        async with self._pool.acquire() as conn, self._routing.transaction(conn):
            attempt = await repository.end_attempt(conn, request_id, offer_id, result, now)
            if attempt is None:
                return False
            request = await repository.lock(conn, request_id)
            assert request is not None
            await self._release_agent(conn, attempt, keep_wrapup=answered)
            outcome = "answered" if answered else result.lower()
            await repository.mark_journal(
                conn,
                attempt["call_id"],
                attempt["interaction_id"],
                "callback_answered" if answered else "callback_not_reached",
            )
            events.append(
                CallbackAttemptEnded(
                    str(request_id), request["customer_id"], attempt["number"],
                    attempt["agent_id"], attempt["interaction_id"], attempt["call_id"],
                    result, now,
                )
            )  # fmt: skip
            if answered or request["attempts"] >= self._timers.callback_max_attempts:
                status = "completed" if answered else "failed"
                row = await repository.finish(conn, request_id, status, outcome, now)
                if row is not None:
                    events.append(
                        CallbackFinished(
                            str(request_id), row["customer_id"], status, outcome,
                            row["attempts"], now,
                        )
                    )  # fmt: skip
            else:
                at = self._retry_time(request, now)
                row = await repository.reschedule(conn, request_id, at, outcome, now)
                if row is not None:
                    events.append(
                        CallbackRescheduled(
                            str(request_id), row["customer_id"], row["attempts"], at, now
                        )
                    )
        log.info(
            "callback attempt ended id=%s attempt=%s result=%s",
            request_id,
            attempt["number"],
            result,
        )
        for event in events:
            self._publish(event)
        return True

    def _retry_time(self, request: asyncpg.Record, now: datetime) -> datetime:
        wait = self._timers.callback_retry_interval_s * self.config.retry_backoff ** max(
            0, request["attempts"] - 1
        )
        at = now + timedelta(seconds=wait)
        schedule = self._schedules.get(request["site"])
        if schedule is not None and not schedule.is_open(at):
            at = schedule.next_opening(at) or at
        return at

    async def _release_agent(
        self, conn: asyncpg.Connection, attempt: asyncpg.Record, *, keep_wrapup: bool
    ) -> None:
        """End the attempt's interaction with its agent: a conversation goes to wrap-up;
        a visitor not reached leaves the agent free at once."""
        interaction_id, agent_id = attempt["interaction_id"], attempt["agent_id"]
        current = await routing_repository.get_interaction(conn, interaction_id)
        if current is None or current["state"] != "accepted":
            return
        done = await self._routing.complete(conn, interaction_id, agent_id)
        if not keep_wrapup and done.state == "wrap_up":
            await self._routing.finish_wrapup(conn, interaction_id, agent_id)

    async def open_attempts(self) -> list[asyncpg.Record]:
        async with self._pool.acquire() as conn:
            return await repository.open_attempts(conn)

    async def stale_calling(self, older_than_s: float) -> list[asyncpg.Record]:
        before = self._clock() - timedelta(seconds=older_than_s)
        async with self._pool.acquire() as conn:
            return await repository.stale_calling(conn, before)

    async def mark_journal_of_call(self, call_id: str) -> None:
        """A journal row written after its attempt ended gets the attempt's outcome."""
        async with self._pool.acquire() as conn:
            attempt = await repository.attempt_of_call(conn, call_id)
            if attempt is None:
                return
            answered = attempt["result"] == "ANSWER"
            await repository.mark_journal(
                conn,
                call_id,
                attempt["interaction_id"],
                "callback_answered" if answered else "callback_not_reached",
            )
