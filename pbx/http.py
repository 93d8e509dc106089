"""``GET /api/v1/calls``: the call journal, filtered, paginated, or as CSV; each user
reads the calls crm_connectors.access's rule lets them see (its CallScope)."""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from crm_connectors.access import CallScope
from crm_connectors.keys import ACCESS
from server.auth import current_user, requires_role
from server.http_util import fail, parse_query
from server.keys import POOL

from .journal import CallJournal, InvalidCursor, decode_cursor
from .repository import CallQuery
from .schemas import CallListQuery

JOURNAL = web.AppKey("call_journal", CallJournal)


def seen_by(query: CallQuery, scope: CallScope) -> CallQuery:
    """``query`` narrowed to the calls ``scope`` sees."""
    if scope.everything:
        return replace(query, visible_to_endpoint=None, visible_departments=None)
    return replace(
        query,
        visible_to_endpoint=scope.endpoint,
        visible_departments=tuple(sorted(scope.departments)),
    )


@requires_role("operator")
async def list_calls(request: web.Request) -> web.StreamResponse:
    params = parse_query(request, CallListQuery)
    async with request.app[POOL].acquire() as conn:
        scope = await request.app[ACCESS].calls(conn, current_user(request))
    if scope.nothing:
        return web.json_response({"calls": [], "next_cursor": None})
    before = None
    if params.cursor is not None:
        try:
            before = decode_cursor(params.cursor)
        except InvalidCursor:
            fail(422, "invalid cursor")
    query = seen_by(
        CallQuery(
            since=params.since,
            until=params.until,
            number=params.number,
            endpoint=params.agent,
            disposition=params.disposition,
            outcome=params.outcome,
            before=before,
        ),
        scope,
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
