"""Admin API for agents' softphones, and the list of agents (each user sees those of
crm_connectors.access's rule: a supervisor the agents of their departments)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from crm_connectors.keys import ACCESS
from server.auth import current_user, requires_role
from server.auth.http import USER_SERVICE
from server.auth.services import UserNotFound
from server.http_util import fail, int_path, read_json
from server.keys import PHONES, POOL
from server.phones import ENDPOINT_PATTERN, SECRET_PATTERN, EndpointTaken, NotAnAgent


class AgentBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    sip_endpoint: str = Field(pattern=ENDPOINT_PATTERN.pattern)
    # Omitted: the server generates one and returns it once.
    sip_secret: str | None = Field(None, pattern=SECRET_PATTERN.pattern)


@requires_role("admin")
async def put_agent(request: web.Request) -> web.Response:
    user_id = int_path(request, "user_id")
    body = await read_json(request, AgentBody)
    try:
        await request.app[USER_SERVICE].get(user_id)
    except UserNotFound:
        fail(404, "no such user")
    try:
        row, secret = await request.app[PHONES].set_agent(
            user_id, body.sip_endpoint, body.sip_secret
        )
    except EndpointTaken:
        fail(409, f"SIP endpoint {body.sip_endpoint!r} belongs to another agent")
    # The secret is returned to the admin who set it up, once, to configure the phone.
    return web.json_response(
        {"user_id": row["user_id"], "sip_endpoint": row["sip_endpoint"], "sip_secret": secret}
    )


@requires_role("admin")
async def delete_agent(request: web.Request) -> web.Response:
    try:
        await request.app[PHONES].remove_agent(int_path(request, "user_id"))
    except NotAnAgent:
        fail(404, "this user is not an agent")
    return web.json_response({"ok": True})


@requires_role("supervisor")
async def list_agents(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        visible = await request.app[ACCESS].agents(conn, current_user(request))
    rows = await request.app[PHONES].list_agents()
    return web.json_response(
        [
            {
                "user_id": r["user_id"],
                "username": r["username"],
                "display_name": r["display_name"],
                "sip_endpoint": r["sip_endpoint"],
            }
            for r in rows
            if visible is None or r["user_id"] in visible
        ]
    )


def setup_routes(app: web.Application) -> None:
    app.router.add_put("/api/v1/users/{user_id}/agent", put_agent)
    app.router.add_delete("/api/v1/users/{user_id}/agent", delete_agent)
    app.router.add_get("/api/v1/agents", list_agents)
