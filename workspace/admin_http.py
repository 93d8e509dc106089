"""Admin API of the workspace's own settings: canned responses and wrap-up codes."""

from __future__ import annotations

import re

from aiohttp import web

from server.auth import requires_role
from server.http_util import fail, int_path, read_json

from . import schemas
from .keys import WORKSPACE
from .settings import UnknownDepartment

_CODE = re.compile(r"^[a-z0-9_-]{1,40}$")


@requires_role("supervisor")
async def list_canned(request: web.Request) -> web.Response:
    rows = await request.app[WORKSPACE].settings.canned()
    return web.json_response([schemas.canned_json(r) for r in rows])


@requires_role("admin")
async def create_canned(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.CannedBody)
    try:
        row = await request.app[WORKSPACE].settings.create_canned(
            body.title, body.body, body.department_id
        )
    except UnknownDepartment as exc:
        fail(422, str(exc))
    return web.json_response(schemas.canned_json(row), status=201)


@requires_role("admin")
async def update_canned(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.CannedBody)
    try:
        row = await request.app[WORKSPACE].settings.update_canned(
            int_path(request, "canned_id"), body.title, body.body, body.department_id
        )
    except UnknownDepartment as exc:
        fail(422, str(exc))
    if row is None:
        fail(404, "no such canned response")
    return web.json_response(schemas.canned_json(row))


@requires_role("admin")
async def delete_canned(request: web.Request) -> web.Response:
    if not await request.app[WORKSPACE].settings.delete_canned(int_path(request, "canned_id")):
        fail(404, "no such canned response")
    return web.json_response({"ok": True})


@requires_role("operator")
async def list_dispositions(request: web.Request) -> web.Response:
    rows = await request.app[WORKSPACE].settings.dispositions()
    return web.json_response([schemas.disposition_json(r) for r in rows])


@requires_role("admin")
async def put_disposition(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    if not _CODE.match(code):
        fail(422, "a code has 1-40 of a-z, 0-9, '_', '-'")
    body = await read_json(request, schemas.DispositionBody)
    row = await request.app[WORKSPACE].settings.put_disposition(
        code, body.label, body.active, body.position
    )
    return web.json_response(schemas.disposition_json(row))


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/canned-responses", list_canned)
    app.router.add_post("/api/v1/canned-responses", create_canned)
    app.router.add_put("/api/v1/canned-responses/{canned_id}", update_canned)
    app.router.add_delete("/api/v1/canned-responses/{canned_id}", delete_canned)
    app.router.add_get("/api/v1/dispositions", list_dispositions)
    app.router.add_put("/api/v1/dispositions/{code}", put_disposition)
