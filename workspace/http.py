"""The operator page's API: the socket, the agent's state and actions, cards, customers,
call controls. Handlers validate, call a service and serialise."""

from __future__ import annotations

from aiohttp import web

from routing.schemas import StatusBody, interaction_json
from server.auth import current_user, requires_role
from server.config import Config
from server.http_util import fail, int_path, read_json
from server.keys import CONFIG

from . import schemas
from .errors import refusals
from .keys import WORKSPACE
from .sockets import parse_since, same_origin


@requires_role("operator")
async def socket(request: web.Request) -> web.StreamResponse:
    config: Config = request.app[CONFIG]
    if not same_origin(request, config.server.public_url):
        fail(403, "the operator socket opens only from Switchboard's own pages")
    try:
        since = parse_since(request.query.get("since"))
    except ValueError as exc:
        fail(422, str(exc))
    workspace = request.app[WORKSPACE]
    return await workspace.sockets.serve(request, current_user(request).id, since)


@requires_role("operator")
async def state(request: web.Request) -> web.Response:
    user = current_user(request)
    workspace = request.app[WORKSPACE]
    snapshot = await workspace.service.snapshot(user)
    dispositions = await workspace.service.dispositions()
    canned = await workspace.service.canned(user)
    return web.json_response(
        {
            "user": {
                "id": user.id,
                "username": user.username,
                "display_name": user.display_name,
                "role": user.role,
                "sip_endpoint": user.sip_endpoint,
            },
            "agent": schemas.agent_json(snapshot.agent),
            "offers": snapshot.offers,
            "holding": snapshot.holding,
            "dispositions": [schemas.disposition_json(d) for d in dispositions],
            "canned": [schemas.canned_json(c) for c in canned],
        }
    )


@requires_role("operator")
async def put_status(request: web.Request) -> web.Response:
    body = await read_json(request, StatusBody)
    with refusals():
        agent = await request.app[WORKSPACE].service.set_status(
            current_user(request), body.status, body.reason
        )
    return web.json_response(schemas.agent_json(agent))


@requires_role("operator")
async def accept(request: web.Request) -> web.Response:
    with refusals():
        interaction = await request.app[WORKSPACE].service.accept(
            current_user(request), int_path(request, "offer_id")
        )
    return web.json_response(interaction_json(interaction))


@requires_role("operator")
async def decline(request: web.Request) -> web.Response:
    with refusals():
        interaction = await request.app[WORKSPACE].service.decline(
            current_user(request), int_path(request, "offer_id")
        )
    return web.json_response(interaction_json(interaction))


@requires_role("operator")
async def card(request: web.Request) -> web.Response:
    with refusals():
        data = await request.app[WORKSPACE].service.card(
            current_user(request), int_path(request, "interaction_id")
        )
    return web.json_response(data)


@requires_role("operator")
async def wrapup(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.WrapupBody)
    with refusals():
        data = await request.app[WORKSPACE].service.wrapup(
            current_user(request), int_path(request, "interaction_id"), body.disposition, body.notes
        )
    return web.json_response(data)


@requires_role("operator")
async def customer(request: web.Request) -> web.Response:
    with refusals():
        data = await request.app[WORKSPACE].service.customer(
            current_user(request), int_path(request, "customer_id")
        )
    return web.json_response(data)


@requires_role("operator")
async def transfer_targets(request: web.Request) -> web.Response:
    data = await request.app[WORKSPACE].service.transfer_targets(current_user(request))
    return web.json_response(data)


# --- call controls ---------------------------------------------------------------------------


def _endpoint(request: web.Request) -> str:
    endpoint = current_user(request).sip_endpoint
    if endpoint is None:
        fail(409, "you have no softphone; an admin links one to your user")
    return endpoint


async def _target_endpoint(request: web.Request, body: schemas.CallTargetBody) -> str | None:
    if body.agent_id is None:
        return None
    service = request.app[WORKSPACE].service
    targets = await service.transfer_targets(current_user(request))
    endpoint = next(
        (a["sip_endpoint"] for a in targets["agents"] if a["id"] == body.agent_id), None
    )
    if endpoint is None:
        fail(404, f"no agent {body.agent_id} with a softphone")
    return endpoint


@requires_role("operator")
async def my_calls(request: web.Request) -> web.Response:
    with refusals():
        channels = await request.app[WORKSPACE].calls.channels(_endpoint(request))
    return web.json_response({"channels": channels})


@requires_role("operator")
async def hang_up(request: web.Request) -> web.Response:
    with refusals():
        channels = await request.app[WORKSPACE].calls.hang_up(_endpoint(request))
    return web.json_response({"hung_up": channels})


@requires_role("operator")
async def transfer_call(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.CallTargetBody)
    endpoint = _endpoint(request)
    target = await _target_endpoint(request, body)
    with refusals():
        channel = await request.app[WORKSPACE].calls.transfer(
            endpoint, agent_endpoint=target, number=body.number
        )
    return web.json_response({"transferred": channel})


@requires_role("operator")
async def dial(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.CallTargetBody)
    endpoint = _endpoint(request)
    target = await _target_endpoint(request, body)
    with refusals():
        await request.app[WORKSPACE].calls.dial(endpoint, agent_endpoint=target, number=body.number)
    return web.json_response({"ringing": endpoint}, status=202)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/ws", socket)
    app.router.add_get("/api/v1/workspace/state", state)
    app.router.add_put("/api/v1/workspace/status", put_status)
    app.router.add_post("/api/v1/workspace/offers/{offer_id}/accept", accept)
    app.router.add_post("/api/v1/workspace/offers/{offer_id}/decline", decline)
    app.router.add_get("/api/v1/workspace/interactions/{interaction_id}", card)
    app.router.add_post("/api/v1/workspace/interactions/{interaction_id}/wrapup", wrapup)
    app.router.add_get("/api/v1/workspace/customers/{customer_id}", customer)
    app.router.add_get("/api/v1/workspace/transfer-targets", transfer_targets)
    app.router.add_get("/api/v1/workspace/calls", my_calls)
    app.router.add_post("/api/v1/workspace/calls/hangup", hang_up)
    app.router.add_post("/api/v1/workspace/calls/transfer", transfer_call)
    app.router.add_post("/api/v1/workspace/calls/dial", dial)
