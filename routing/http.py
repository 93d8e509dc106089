"""The routing API: agents' status, offers, the supervisor's queue, department settings.

Handlers check who may see and act on what with the one rule of
:mod:`crm_connectors.access` (``app[ACCESS]``), call a service and serialise; the
services decide. What a user may not see answers 404, like what does not exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import asyncpg
from aiohttp import web
from pydantic import ValidationError

from crm_connectors.keys import ACCESS
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
from .models import Interaction
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


async def _acting_agent(
    request: web.Request, conn: asyncpg.Connection, user: User, interaction: Interaction
) -> int | None:
    """Who completes an interaction: its agent as themselves; a supervisor of its
    department as anyone (to clear a stuck one). Others are refused: 403 if they see it
    (offered to them), 404 if it does not exist for them."""
    access = request.app[ACCESS]
    if interaction.agent_id == user.id:
        return user.id
    if await access.may_act(conn, user, interaction.agent_id, interaction.department_id):
        return None
    if await access.sees_interaction(conn, user, interaction.id, interaction.department_id):
        fail(403, f"interaction {interaction.id} is not yours")
    fail(404, f"no interaction {interaction.id}")


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
        if not await request.app[ACCESS].sees_agent(conn, user, agent_id):
            fail(403, "operators change their own status, supervisors their departments' agents")
        state = await rt.service.set_agent_status(conn, agent_id, body.status, body.reason)
    return web.json_response(schemas.agent_state_json(state))


@requires_role("supervisor")
async def get_agent(request: web.Request) -> web.Response:
    agent_id = int_path(request, "user_id")
    async with _routing(request) as (rt, conn):
        if not await request.app[ACCESS].sees_agent(conn, current_user(request), agent_id):
            fail(404, f"no agent {agent_id}")
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


@requires_role("operator")
async def complete_interaction(request: web.Request) -> web.Response:
    interaction_id = int_path(request, "interaction_id")
    user = current_user(request)
    async with _routing(request) as (rt, conn):
        found = await rt.service.get_interaction(conn, interaction_id)
        acting = await _acting_agent(request, conn, user, found)
        interaction = await rt.service.complete(conn, interaction_id, acting)
    return web.json_response(schemas.interaction_json(interaction))


@requires_role("operator")
async def finish_wrapup(request: web.Request) -> web.Response:
    interaction_id = int_path(request, "interaction_id")
    user = current_user(request)
    async with _routing(request) as (rt, conn):
        found = await rt.service.get_interaction(conn, interaction_id)
        acting = await _acting_agent(request, conn, user, found)
        interaction = await rt.service.finish_wrapup(conn, interaction_id, acting)
    return web.json_response(schemas.interaction_json(interaction))


@requires_role("operator")
async def get_interaction(request: web.Request) -> web.Response:
    interaction_id = int_path(request, "interaction_id")
    user = current_user(request)
    async with _routing(request) as (rt, conn):
        interaction = await rt.service.get_interaction(conn, interaction_id)
        if not await request.app[ACCESS].sees_interaction(
            conn, user, interaction_id, interaction.department_id
        ):
            fail(404, f"no interaction {interaction_id}")
        position = await rt.overview.position_and_wait(conn, interaction_id)
    return web.json_response(schemas.interaction_json(interaction, position))


# --- the queue and departments ------------------------------------------------------------------


@requires_role("supervisor")
async def get_queue(request: web.Request) -> web.Response:
    async with _routing(request) as (rt, conn):
        visible = await request.app[ACCESS].departments(conn, current_user(request))
        board = await rt.overview.board(conn, visible)
    return web.json_response(schemas.board_json(board))


@requires_role("supervisor")
async def list_departments(request: web.Request) -> web.Response:
    async with _routing(request) as (rt, conn):
        visible = set(await request.app[ACCESS].departments(conn, current_user(request)))
        departments = await rt.admin.list_departments(conn)
    return web.json_response([schemas.department_json(d) for d in departments if d.id in visible])


@requires_role("supervisor")
async def get_department(request: web.Request) -> web.Response:
    department_id = int_path(request, "department_id")
    async with _routing(request) as (rt, conn):
        if not await request.app[ACCESS].sees_department(
            conn, current_user(request), department_id
        ):
            fail(404, f"no department {department_id}")
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
