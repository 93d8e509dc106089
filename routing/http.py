"""The routing API: agents' status, offers, the supervisor's queue, department settings.

Handlers check who may act on whom, call a service and serialise; the services decide.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import asyncpg
from aiohttp import web
from pydantic import ValidationError

from server.auth import User, current_user, requires_role
from server.http_util import fail, int_path, read_json, validation_details
from server.keys import POOL

from . import schemas
from .errors import (
    AgentNotFound,
    DepartmentNameTaken,
    DepartmentNotFound,
    InteractionNotFound,
    InvalidTransition,
    NotYours,
    OfferClosed,
    OfferNotFound,
    RoutingError,
    UnknownReferences,
)
from .keys import ROUTING
from .runtime import RoutingRuntime
from .settings import DepartmentSettings

_STATUS: list[tuple[type[Exception], int]] = [
    (InteractionNotFound, 404),
    (OfferNotFound, 404),
    (AgentNotFound, 404),
    (DepartmentNotFound, 404),
    (NotYours, 403),
    (InvalidTransition, 409),
    (OfferClosed, 409),
    (DepartmentNameTaken, 409),
    (UnknownReferences, 422),
]


def _refuse(exc: Exception) -> NoReturn:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            fail(status, str(exc))
    fail(422, str(exc))


def _settings_error(exc: ValidationError) -> NoReturn:
    details = [
        {**d, "field": "settings." + d["field"] if d["field"] != "body" else "settings"}
        for d in validation_details(exc)
    ]
    fail(422, "invalid department settings", details=details)


@asynccontextmanager
async def _routing(
    request: web.Request,
) -> AsyncIterator[tuple[RoutingRuntime, asyncpg.Connection]]:
    """The routing runtime and a connection; routing's refusals become HTTP errors."""
    async with request.app[POOL].acquire() as conn:
        try:
            yield request.app[ROUTING], conn
        except (RoutingError, ValueError) as exc:
            if isinstance(exc, ValidationError):
                _settings_error(exc)
            _refuse(exc)


async def _visible_departments(
    rt: RoutingRuntime, conn: asyncpg.Connection, user: User
) -> set[int]:
    if user.has_role("admin"):
        return set(await rt.admin.all_department_ids(conn))
    return await rt.admin.departments_of_supervisor(conn, user.id)


async def _may_manage_agent(
    rt: RoutingRuntime, conn: asyncpg.Connection, user: User, agent_id: int
) -> bool:
    """Operators manage themselves, supervisors the agents of their departments."""
    if user.id == agent_id or user.has_role("admin"):
        return True
    if not user.has_role("supervisor"):
        return False
    profile = await rt.admin.agent_profile(conn, agent_id)
    return bool(profile.departments & await _visible_departments(rt, conn, user))


# --- agents ------------------------------------------------------------------------------


@requires_role("operator")
async def get_me(request: web.Request) -> web.Response:
    user = current_user(request)
    async with _routing(request) as (rt, conn):
        state = await rt.service.agent_state(conn, user.id)
        offers = await rt.service.open_offers(conn, user.id)
        held = await rt.service.held_offers(conn, user.id)
    return web.json_response(
        {
            **schemas.agent_state_json(state),
            "offers": [schemas.offer_json(o) for o in offers],
            "holding": [schemas.offer_json(o) for o in held],
        }
    )


@requires_role("operator")
async def put_status(request: web.Request) -> web.Response:
    agent_id = int_path(request, "user_id")
    body = await read_json(request, schemas.StatusBody)
    user = current_user(request)
    async with _routing(request) as (rt, conn):
        if not await _may_manage_agent(rt, conn, user, agent_id):
            fail(403, "operators change their own status, supervisors their departments' agents")
        state = await rt.service.set_agent_status(conn, agent_id, body.status, body.reason)
    return web.json_response(schemas.agent_state_json(state))


@requires_role("supervisor")
async def get_agent(request: web.Request) -> web.Response:
    agent_id = int_path(request, "user_id")
    async with _routing(request) as (rt, conn):
        state = await rt.service.agent_state(conn, agent_id)
        profile = await rt.admin.agent_profile(conn, agent_id)
    return web.json_response(
        {**schemas.agent_state_json(state), "profile": schemas.profile_json(profile)}
    )


@requires_role("admin")
async def put_profile(request: web.Request) -> web.Response:
    agent_id = int_path(request, "user_id")
    body = await read_json(request, schemas.ProfileBody)
    async with _routing(request) as (rt, conn):
        profile = await rt.admin.set_agent_profile(conn, agent_id, body.profile())
    return web.json_response(schemas.profile_json(profile))


# --- offers and interactions ------------------------------------------------------------------


@requires_role("operator")
async def accept_offer(request: web.Request) -> web.Response:
    offer_id = int_path(request, "offer_id")
    async with _routing(request) as (rt, conn):
        interaction = await rt.service.accept(conn, offer_id, current_user(request).id)
    return web.json_response(schemas.interaction_json(interaction))


@requires_role("operator")
async def decline_offer(request: web.Request) -> web.Response:
    offer_id = int_path(request, "offer_id")
    async with _routing(request) as (rt, conn):
        interaction = await rt.service.decline(conn, offer_id, current_user(request).id)
    return web.json_response(schemas.interaction_json(interaction))


def _acting_agent(user: User) -> int | None:
    """Operators act on their own interactions; supervisors on any (to clear stuck ones)."""
    return None if user.has_role("supervisor") else user.id


@requires_role("operator")
async def complete_interaction(request: web.Request) -> web.Response:
    interaction_id = int_path(request, "interaction_id")
    async with _routing(request) as (rt, conn):
        interaction = await rt.service.complete(
            conn, interaction_id, _acting_agent(current_user(request))
        )
    return web.json_response(schemas.interaction_json(interaction))


@requires_role("operator")
async def finish_wrapup(request: web.Request) -> web.Response:
    interaction_id = int_path(request, "interaction_id")
    async with _routing(request) as (rt, conn):
        interaction = await rt.service.finish_wrapup(
            conn, interaction_id, _acting_agent(current_user(request))
        )
    return web.json_response(schemas.interaction_json(interaction))


@requires_role("operator")
async def get_interaction(request: web.Request) -> web.Response:
    interaction_id = int_path(request, "interaction_id")
    user = current_user(request)
    async with _routing(request) as (rt, conn):
        interaction = await rt.service.get_interaction(conn, interaction_id)
        mine = interaction.agent_id == user.id
        if not mine and interaction.department_id not in await _visible_departments(rt, conn, user):
            fail(404, f"no interaction {interaction_id}")
        position = await rt.overview.position_and_wait(conn, interaction_id)
    return web.json_response(schemas.interaction_json(interaction, position))


# --- the queue and departments ------------------------------------------------------------------


@requires_role("supervisor")
async def get_queue(request: web.Request) -> web.Response:
    async with _routing(request) as (rt, conn):
        visible = await _visible_departments(rt, conn, current_user(request))
        board = await rt.overview.board(conn, sorted(visible))
    return web.json_response(schemas.board_json(board))


@requires_role("supervisor")
async def list_departments(request: web.Request) -> web.Response:
    async with _routing(request) as (rt, conn):
        departments = await rt.admin.list_departments(conn)
    return web.json_response([schemas.department_json(d) for d in departments])


@requires_role("supervisor")
async def get_department(request: web.Request) -> web.Response:
    department_id = int_path(request, "department_id")
    async with _routing(request) as (rt, conn):
        view = await rt.admin.get_department(conn, department_id)
    return web.json_response(schemas.department_view_json(view))


def _validated_settings(data: dict[str, Any]) -> DepartmentSettings:
    try:
        return DepartmentSettings.model_validate(data)
    except ValidationError as exc:
        _settings_error(exc)


@requires_role("admin")
async def create_department(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.NewDepartmentBody)
    settings = _validated_settings(body.settings)
    async with _routing(request) as (rt, conn):
        view = await rt.admin.create_department(conn, body.name, settings, body.supervisor_ids)
    return web.json_response(schemas.department_view_json(view), status=201)


@requires_role("admin")
async def patch_department(request: web.Request) -> web.Response:
    department_id = int_path(request, "department_id")
    body = await read_json(request, schemas.DepartmentPatchBody)
    async with _routing(request) as (rt, conn):
        view = await rt.admin.update_department(
            conn,
            department_id,
            name=body.name,
            changes=body.settings,
            supervisor_ids=body.supervisor_ids,
        )
    return web.json_response(schemas.department_view_json(view))


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/routing/me", get_me)
    app.router.add_put("/api/v1/routing/agents/{user_id}/status", put_status)
    app.router.add_get("/api/v1/routing/agents/{user_id}", get_agent)
    app.router.add_put("/api/v1/routing/agents/{user_id}/profile", put_profile)
    app.router.add_post("/api/v1/routing/offers/{offer_id}/accept", accept_offer)
    app.router.add_post("/api/v1/routing/offers/{offer_id}/decline", decline_offer)
    app.router.add_get("/api/v1/routing/interactions/{interaction_id}", get_interaction)
    app.router.add_post(
        "/api/v1/routing/interactions/{interaction_id}/complete", complete_interaction
    )
    app.router.add_post(
        "/api/v1/routing/interactions/{interaction_id}/wrapup/finish", finish_wrapup
    )
    app.router.add_get("/api/v1/routing/queue", get_queue)
    app.router.add_get("/api/v1/routing/departments", list_departments)
    app.router.add_post("/api/v1/routing/departments", create_department)
    app.router.add_get("/api/v1/routing/departments/{department_id}", get_department)
    app.router.add_patch("/api/v1/routing/departments/{department_id}", patch_department)
