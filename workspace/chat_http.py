"""Chats on the operator page: history, answering (text and files), typing, closing,
transfer and blocking — each only for who may see or act on the conversation."""

from __future__ import annotations

from aiohttp import BodyPartReader, web

from server.auth import current_user, requires_role
from server.http_util import fail, int_path, read_json
from text_channels.adapter import NewAttachment
from text_channels.http import attachment_response
from text_channels.keys import TEXT_CHANNELS
from text_channels.models import Conversation

from . import schemas
from .errors import refusals
from .keys import WORKSPACE
from .notifier import message_json

_CHUNK = 64 * 1024


async def _conversation(request: web.Request, *, act: bool) -> Conversation:
    with refusals():
        return await request.app[WORKSPACE].service.conversation(
            current_user(request), int_path(request, "conversation_id"), act=act
        )


@requires_role("operator")
async def get_chat(request: web.Request) -> web.Response:
    conversation = await _conversation(request, act=False)
    messages = await request.app[TEXT_CHANNELS].conversations.history(conversation.id)
    return web.json_response(
        {
            **schemas.conversation_json(conversation),
            "messages": [message_json(m) for m in messages],
        }
    )


@requires_role("operator")
async def send_message(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.ChatMessageBody)
    conversation = await _conversation(request, act=True)
    with refusals():
        message = await request.app[TEXT_CHANNELS].conversations.send(
            conversation.id, current_user(request).id, body.text, client_ref=body.ref
        )
    return web.json_response(message_json(message), status=201)


@requires_role("operator")
async def send_file(request: web.Request) -> web.Response:
    conversation = await _conversation(request, act=True)
    channels = request.app[TEXT_CHANNELS]
    limit = channels.config.max_file_bytes
    if not request.content_type.startswith("multipart/"):
        fail(415, "send the file as multipart/form-data")
    reader = await request.multipart()
    text, attachment = "", None
    async for part in reader:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "text":
            text = (await part.text())[:4000]
        elif part.name == "file":
            data = bytearray()
            while chunk := await part.read_chunk(_CHUNK):
                data += chunk
                if len(data) > limit:
                    fail(413, f"a file may have at most {limit} bytes", reason="file_too_large")
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            attachment = NewAttachment(part.filename or "file", content_type, bytes(data))
    if attachment is None:
        fail(422, "no file in the form (field 'file')")
    with refusals():
        message = await channels.conversations.send(
            conversation.id, current_user(request).id, text, attachment=attachment
        )
    return web.json_response(message_json(message), status=201)


@requires_role("operator")
async def get_attachment(request: web.Request) -> web.Response:
    conversation = await _conversation(request, act=False)
    row = await request.app[TEXT_CHANNELS].conversations.attachment(
        int_path(request, "attachment_id")
    )
    if row is None or row["conversation_id"] != conversation.id:
        fail(404, "not found")
    return attachment_response(row)


@requires_role("operator")
async def typing(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.TypingBody)
    conversation = await _conversation(request, act=True)
    with refusals():
        await request.app[TEXT_CHANNELS].conversations.agent_typing(conversation.id, body.on)
    return web.json_response({"ok": True})


@requires_role("operator")
async def close(request: web.Request) -> web.Response:
    conversation = await _conversation(request, act=True)
    with refusals():
        closed = await request.app[TEXT_CHANNELS].conversations.close(
            conversation.id, "agent", current_user(request).id
        )
    return web.json_response(schemas.conversation_json(closed))


@requires_role("operator")
async def transfer(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.ChatTransferBody)
    conversation = await _conversation(request, act=True)
    service = request.app[WORKSPACE].service
    department_id = body.department_id
    if body.agent_id is not None:
        # Into a department of the agent's: the conversation's own if they serve it.
        theirs = await service.departments_of(body.agent_id)
        if not theirs:
            fail(404, f"no agent {body.agent_id} in any department")
        if department_id is None:
            department_id = (
                conversation.department_id if conversation.department_id in theirs else theirs[0]
            )
    assert department_id is not None
    with refusals():
        moved = await request.app[TEXT_CHANNELS].conversations.transfer(
            conversation.id,
            current_user(request).id,
            department_id=department_id,
            to_agent_id=body.agent_id,
        )
    return web.json_response(schemas.conversation_json(moved))


@requires_role("operator")
async def block(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.BlockBody)
    conversation = await _conversation(request, act=True)
    with refusals():
        blocked = await request.app[TEXT_CHANNELS].conversations.block(
            conversation.id, current_user(request).id, body.reason
        )
    return web.json_response(schemas.conversation_json(blocked))


def setup_routes(app: web.Application) -> None:
    base = "/api/v1/workspace/chats/{conversation_id}"
    app.router.add_get(base, get_chat)
    app.router.add_post(base + "/messages", send_message)
    app.router.add_post(base + "/attachments", send_file)
    app.router.add_get(base + "/attachments/{attachment_id}", get_attachment)
    app.router.add_post(base + "/typing", typing)
    app.router.add_post(base + "/close", close)
    app.router.add_post(base + "/transfer", transfer)
    app.router.add_post(base + "/block", block)
