"""Recordings over HTTP: details with the transcript, playback/download with ranges,
transcript search, and pause/resume of a call's recording. No file path ever leaves.

Who sees what is :mod:`recording.access`: a recording is seen by whoever sees its call in
the journal, and one they may not see answers 404 like a missing one. The queries check
the endpoint half of that rule themselves; the department half is the journal's, asked
here (:func:`_reading_scope`, :func:`_search`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp import web

from crm_connectors.keys import ACCESS
from pbx.http import JOURNAL, seen_by
from pbx.repository import CallQuery
from server.auth import current_user, requires_role
from server.http_util import fail, int_path, parse_query
from server.keys import POOL

from .access import EVERY_CALL, Scope
from .live import ControlFailed, LiveRecorder, NotOnThisCall, NotRecording
from .queries import NoAudio, NotVisible, RecordingDetails, RecordingNotFound, RecordingQueries
from .ranges import UnsatisfiableRange, requested_range
from .repository import SearchHit
from .schemas import AudioQuery, SearchQuery

LIVE = web.AppKey("recording_live", LiveRecorder)
QUERIES = web.AppKey("recording_queries", RecordingQueries)

_MEDIA_TYPES = {"ogg": "audio/ogg", "mp3": "audio/mpeg"}
# Asterisk's Linkedid: "1700000000.42" (with a system name prefix when one is set).
_CALL_ID = re.compile(r"^[A-Za-z0-9._-]{1,80}$")
# A supervisor's search reads matches over every call, keeps those of calls they see and
# reads further (four times as many) until it has its limit, or up to this many.
_SEARCH_READ_MAX = 10_000


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _audio_url(recording_id: int) -> str:
    return f"/api/v1/recordings/{recording_id}/audio"


def _details_json(details: RecordingDetails) -> dict[str, Any]:
    rec, transcript = details.recording, details.transcript
    return {
        "id": rec.id,
        "call": {
            "id": details.call_row_id,
            "call_id": rec.call_id,
            "started_at": _iso(rec.call_started_at),
            "recording_ids": list(details.call_recording_ids),
        },
        "department_id": rec.department_id,
        "customer_id": rec.customer_id,
        "state": rec.state,
        "failure_reason": rec.failure_reason,
        "format": rec.format,
        "duration_s": rec.duration_s,
        "size_bytes": rec.size_bytes,
        "sha256": rec.sha256,
        "created_at": _iso(rec.created_at),
        "ended_at": _iso(rec.ended_at),
        "converted_at": _iso(rec.converted_at),
        "deleted_at": _iso(rec.deleted_at),
        "audio_url": _audio_url(rec.id) if rec.state == "converted" else None,
        "transcription": {
            "state": rec.transcription_state,
            "error": rec.transcription_error,
            "model": transcript.model if transcript else None,
            "word_count": transcript.word_count if transcript else None,
            "segments": transcript.segments if transcript else None,
        },
    }


def _hit_json(hit: SearchHit) -> dict[str, Any]:
    return {
        "recording_id": hit.recording_id,
        "call": {
            "id": hit.call_row_id,
            "call_id": hit.call_id,
            "started_at": _iso(hit.call_started_at),
        },
        "offset_s": round(hit.offset_s, 2),
        "speaker": hit.speaker,
        "snippet": hit.snippet,
        # A media fragment: the player starts where the phrase was said.
        "audio_url": f"{_audio_url(hit.recording_id)}#t={hit.offset_s:.2f}",
    }


async def _scope(request: web.Request) -> Scope:
    async with request.app[POOL].acquire() as conn:
        return await request.app[ACCESS].calls(conn, current_user(request))


async def _seen(request: web.Request, scope: Scope, call_row_ids: set[int]) -> set[int]:
    """Which of these journal rows the reader sees: the journal's own filter decides."""
    if not call_row_ids:
        return set()
    query = seen_by(CallQuery(ids=tuple(sorted(call_row_ids))), scope)
    return await request.app[JOURNAL].seen(query)


async def _reading_scope(request: web.Request, recording_id: int) -> Scope:
    """The scope to read a recording with: the reader's own, or every call when the
    recording's call is of a department they supervise (looked up first: the queries
    know the call's endpoints, not its department)."""
    scope = await _scope(request)
    if scope.everything or not scope.departments:
        return scope
    details = await request.app[QUERIES].details(recording_id, EVERY_CALL)
    if details.call_row_id is not None and await _seen(request, scope, {details.call_row_id}):
        return EVERY_CALL
    return scope


@requires_role("operator")
async def get_recording(request: web.Request) -> web.Response:
    recording_id = int_path(request, "recording_id")
    queries = request.app[QUERIES]
    try:
        details = await queries.details(recording_id, await _reading_scope(request, recording_id))
    except (RecordingNotFound, NotVisible):
        fail(404, "no such recording")
    return web.json_response(_details_json(details))


@requires_role("operator")
async def get_audio(request: web.Request) -> web.StreamResponse:
    recording_id = int_path(request, "recording_id")
    params = parse_query(request, AudioQuery)
    queries = request.app[QUERIES]
    try:
        audio = await queries.audio(recording_id, await _reading_scope(request, recording_id))
    except (RecordingNotFound, NotVisible):
        fail(404, "no such recording")
    except NoAudio as exc:
        fail(404, str(exc))
    etag = f'"{audio.sha256}"' if audio.sha256 else None
    try:
        span = requested_range(
            request.headers.get("Range"),
            audio.size,
            if_range=request.headers.get("If-Range"),
            etag=etag,
        )
    except UnsatisfiableRange as exc:
        return web.json_response(
            {"error": str(exc)}, status=416, headers={"Content-Range": f"bytes */{audio.size}"}
        )
    disposition = "attachment" if params.download else "inline"
    headers = {
        "Content-Type": _MEDIA_TYPES[audio.format],
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'{disposition}; filename="recording-{audio.recording_id}.'
        f'{audio.format}"',
        # A call's audio is personal data: no shared cache keeps a copy.
        "Cache-Control": "private, no-cache",
    }
    if etag is not None:
        headers["ETag"] = etag
    start, end = (0, audio.size) if span is None else (span.start, span.end)
    if span is not None:
        headers["Content-Range"] = span.content_range(audio.size)
    response = web.StreamResponse(status=200 if span is None else 206, headers=headers)
    response.content_length = end - start
    await response.prepare(request)
    if request.method != "HEAD":
        async for chunk in queries.read(audio, start, end):
            await response.write(chunk)
    await response.write_eof()
    return response


async def _search(request: web.Request, phrase: str, limit: int) -> list[SearchHit]:
    """Matches in the recordings the reader sees, newest first. The queries filter by
    the reader's phone; a supervisor's departments are the journal's to decide, so their
    search reads matches over every call and keeps those of calls they see."""
    scope = await _scope(request)
    queries = request.app[QUERIES]
    if scope.everything or not scope.departments:
        return await queries.search(phrase, scope, limit)
    wanted = limit
    while True:
        hits = await queries.search(phrase, EVERY_CALL, wanted)
        seen = await _seen(request, scope, {h.call_row_id for h in hits if h.call_row_id})
        kept = [h for h in hits if h.call_row_id in seen]
        if len(kept) >= limit or len(hits) < wanted or wanted >= _SEARCH_READ_MAX:
            return kept[:limit]
        wanted = min(wanted * 4, _SEARCH_READ_MAX)


@requires_role("operator")
async def search(request: web.Request) -> web.Response:
    params = parse_query(request, SearchQuery)
    hits = await _search(request, params.q, params.limit)
    return web.json_response({"results": [_hit_json(h) for h in hits]})


async def _control_scope(request: web.Request, call_id: str) -> Scope:
    """The reader's scope, or every call for a supervisor of the call's department."""
    scope = await _scope(request)
    if scope.everything or not scope.departments:
        return scope
    async with request.app[POOL].acquire() as conn:
        if await request.app[ACCESS].supervises_call(conn, current_user(request), call_id):
            return EVERY_CALL
    return scope


async def _set_paused(request: web.Request, paused: bool) -> web.Response:
    call_id = request.match_info["call_id"]
    if not _CALL_ID.match(call_id):
        fail(404, "no such call")
    user = current_user(request)
    scope = await _control_scope(request, call_id)
    try:
        live = await request.app[LIVE].set_paused(call_id, paused, scope, user.username)
    except NotRecording:
        fail(404, "no recording in progress for this call")
    except NotOnThisCall:
        fail(403, "you can only pause the recording of your own call")
    except ControlFailed:
        fail(503, "Asterisk did not carry out the request; try again")
    return web.json_response(
        {"call_id": live.call_id, "recording_id": live.recording_id, "paused": live.paused}
    )


@requires_role("operator")
async def pause(request: web.Request) -> web.Response:
    return await _set_paused(request, True)


@requires_role("operator")
async def resume(request: web.Request) -> web.Response:
    return await _set_paused(request, False)


def setup_routes(app: web.Application) -> None:
    # Before /{recording_id}: "search" is a name, not an id.
    app.router.add_get("/api/v1/recordings/search", search)
    app.router.add_get("/api/v1/recordings/{recording_id}", get_recording)
    app.router.add_get("/api/v1/recordings/{recording_id}/audio", get_audio)
    app.router.add_post("/api/v1/calls/{call_id}/recording/pause", pause)
    app.router.add_post("/api/v1/calls/{call_id}/recording/resume", resume)
