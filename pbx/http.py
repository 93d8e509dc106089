"""``GET /api/v1/calls``: the call journal, filtered, paginated, or as CSV."""

from __future__ import annotations

from aiohttp import web

from server.auth import current_user, requires_role
from server.http_util import fail, parse_query

from .journal import CallJournal, InvalidCursor, decode_cursor
from .repository import CallQuery
from .schemas import CallListQuery

JOURNAL = web.AppKey("call_journal", CallJournal)


@requires_role("operator")
async def list_calls(request: web.Request) -> web.StreamResponse:
    params = parse_query(request, CallListQuery)
    user = current_user(request)
    visible_to = None
    if not user.has_role("supervisor"):
        # An operator sees the calls their own phone took part in, and nothing else.
        if user.sip_endpoint is None:
            return web.json_response({"calls": [], "next_cursor": None})
        visible_to = user.sip_endpoint
    before = None
    if params.cursor is not None:
        try:
            before = decode_cursor(params.cursor)
        except InvalidCursor:
            fail(422, "invalid cursor")
    query = CallQuery(
        since=params.since,
        until=params.until,
        number=params.number,
        endpoint=params.agent,
        disposition=params.disposition,
        outcome=params.outcome,
        visible_to_endpoint=visible_to,
        before=before,
    )
    journal = request.app[JOURNAL]
    if params.format == "csv":
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": 'attachment; filename="calls.csv"',
            }
        )
        await response.prepare(request)
        async for chunk in journal.export_csv(query):
            await response.write(chunk)
        await response.write_eof()
        return response
    page = await journal.page(query, params.limit)
    return web.json_response({"calls": page.calls, "next_cursor": page.next_cursor})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/calls", list_calls)
