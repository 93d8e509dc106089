"""Admin API of the IVR: menus per inbound number, prompts, and voicemail.

Menus and prompts are edited at run time; the next call uses them. Voicemail is a call's:
each supervisor hears the messages of the departments they supervise, an admin all (the
one rule, crm_connectors.access; a message of no department is the admins').
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from crm_connectors.access import CallScope
from crm_connectors.keys import ACCESS
from pbx.audio import AudioError
from server.auth import current_user, requires_role
from server.http_util import fail, int_path
from server.keys import POOL

from .keys import IVR
from .services import NUMBER, PROMPT_NAME, MenuRejected, PromptInUse, SavedMenu
from .sounds import SoundsUnknown

# Uploaded prompts are streamed to disk, past the app's small request-body limit.
MAX_PROMPT_BYTES = 20 * 2**20


def _menu_json(saved: SavedMenu) -> dict[str, Any]:
    return {
        "number": saved.number,
        "version": saved.version,
        "updated_at": saved.updated_at.isoformat(),
        "warnings": saved.warnings,
        "document": saved.menus.model_dump(mode="json"),
    }


def _number(request: web.Request) -> str:
    number = request.match_info["number"]
    if not NUMBER.match(number):
        fail(404, "no such number")
    return number


@requires_role("admin")
async def list_menus(request: web.Request) -> web.Response:
    menus = await request.app[IVR].menus.list()
    return web.json_response({"menus": [_menu_json(m) for m in menus]})


@requires_role("admin")
async def get_menu(request: web.Request) -> web.Response:
    saved = await request.app[IVR].menus.get(_number(request))
    if saved is None:
        fail(404, "no menu for this number")
    return web.json_response(_menu_json(saved))


@requires_role("admin")
async def put_menu(request: web.Request) -> web.Response:
    number = _number(request)
    if request.content_type != "application/json":
        fail(415, "request body must be application/json")
    try:
        document = await request.json()
    except ValueError:
        fail(400, "request body is not valid JSON")
    if not isinstance(document, dict):
        fail(422, "invalid menu", details=[{"field": "body", "message": "must be an object"}])
    try:
        saved = await request.app[IVR].menus.put(number, document)
    except MenuRejected as exc:
        fail(422, "invalid menu", details=exc.problems)
    except SoundsUnknown:
        fail(503, "Asterisk cannot be asked whether the sounds exist; try again")
    return web.json_response(_menu_json(saved))


@requires_role("admin")
async def delete_menu(request: web.Request) -> web.Response:
    if not await request.app[IVR].menus.delete(_number(request)):
        fail(404, "no menu for this number")
    return web.json_response({"deleted": True})


def _prompt_json(row: Any) -> dict[str, Any]:
    return {
        "name": row["name"],
        "ref": f"prompt:{row['name']}",
        "duration_s": round(row["duration_s"], 3),
        "uploaded_at": row["uploaded_at"].isoformat(),
    }


@requires_role("admin")
async def list_prompts(request: web.Request) -> web.Response:
    rows = await request.app[IVR].prompts.list()
    return web.json_response({"prompts": [_prompt_json(r) for r in rows]})


@requires_role("admin")
async def put_prompt(request: web.Request) -> web.Response:
    """The body is the audio file itself (WAV, MP3, ...)."""
    name = request.match_info["name"]
    if not PROMPT_NAME.match(name):
        fail(422, "a prompt name is 1-64 of a-z 0-9 _ -")
    with tempfile.TemporaryDirectory(prefix="prompt-") as tmp:
        source = Path(tmp) / "upload"
        size = 0
        with source.open("wb") as out:
            async for chunk in request.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > MAX_PROMPT_BYTES:
                    fail(413, f"a prompt is at most {MAX_PROMPT_BYTES} bytes")
                out.write(chunk)
        try:
            row = await request.app[IVR].prompts.upload(name, source)
        except AudioError as exc:
            fail(422, f"not a usable audio file: {exc}")
    return web.json_response(_prompt_json(row))


@requires_role("admin")
async def delete_prompt(request: web.Request) -> web.Response:
    try:
        deleted = await request.app[IVR].prompts.delete(request.match_info["name"])
    except PromptInUse as exc:
        fail(409, str(exc), numbers=exc.numbers)
    if not deleted:
        fail(404, "no such prompt")
    return web.json_response({"deleted": True})


async def _calls_seen(request: web.Request) -> CallScope:
    async with request.app[POOL].acquire() as conn:
        return await request.app[ACCESS].calls(conn, current_user(request))


@requires_role("supervisor")
async def list_voicemails(request: web.Request) -> web.Response:
    scope = await _calls_seen(request)
    # Filtered in the query, so that a supervisor gets the newest of their departments'
    # messages, not what is left of everyone's newest.
    rows = await request.app[IVR].voicemail.list(
        departments=None if scope.everything else scope.departments
    )
    return web.json_response(
        {
            "voicemails": [
                {
                    "id": r["id"],
                    "call_id": r["call_id"],
                    "number": r["number"],
                    "caller_number": r["caller_number"],
                    "customer_id": r["customer_id"],
                    "department_id": r["department_id"],
                    "duration_s": round(r["duration_s"], 3),
                    "recorded_at": r["recorded_at"].isoformat(),
                    "notified_at": r["notified_at"].isoformat() if r["notified_at"] else None,
                    "notify_error": r["notify_error"],
                }
                for r in rows
            ]
        }
    )


@requires_role("supervisor")
async def voicemail_audio(request: web.Request) -> web.StreamResponse:
    scope = await _calls_seen(request)
    row = await request.app[IVR].voicemail.get(int_path(request, "voicemail_id"))
    if row is None or not scope.sees_call(None, row["department_id"]):
        fail(404, "no such voicemail")
    path = Path(row["path"])
    if not await asyncio.to_thread(path.is_file):
        fail(404, "the voicemail's file is gone")
    return web.FileResponse(path, headers={"Content-Type": "audio/wav"})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/ivr/menus", list_menus)
    app.router.add_get("/api/v1/ivr/menus/{number}", get_menu)
    app.router.add_put("/api/v1/ivr/menus/{number}", put_menu)
    app.router.add_delete("/api/v1/ivr/menus/{number}", delete_menu)
    app.router.add_get("/api/v1/ivr/prompts", list_prompts)
    app.router.add_put("/api/v1/ivr/prompts/{name}", put_prompt)
    app.router.add_delete("/api/v1/ivr/prompts/{name}", delete_prompt)
    app.router.add_get("/api/v1/ivr/voicemails", list_voicemails)
    app.router.add_get("/api/v1/ivr/voicemails/{voicemail_id}/audio", voicemail_audio)
