"""The customer API: look a customer up by any identity, their timeline, notes, merges.

Scoped like every API showing customers (crm_connectors.access): an operator reaches the
customers of the interactions offered to or held by them, a supervisor also those of
their departments, an admin all. Others' customers answer 404, as missing ones do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from server.auth import current_user, requires_role
from server.http_util import fail, int_path, parse_query, read_json

from . import schemas
from .identities import InvalidIdentity
from .keys import CUSTOMERS
from .store import CustomerNotFound, IdentityTaken, MergeRefused


@asynccontextmanager
async def _refusals() -> AsyncIterator[None]:
    """The store's refusals as HTTP errors."""
    try:
        yield
    except CustomerNotFound as exc:
        fail(404, str(exc))
    except IdentityTaken as exc:
        if exc.customer_id is None:
            fail(409, str(exc))
        fail(409, f"{exc}; merge the two customers instead", customer_id=exc.customer_id)
    except (InvalidIdentity, MergeRefused) as exc:
        fail(422, str(exc))


@requires_role("operator")
async def lookup(request: web.Request) -> web.Response:
    query = parse_query(request, schemas.LookupQuery)
    async with _refusals():
        customer = await request.app[CUSTOMERS].lookup(
            current_user(request), query.kind, query.value
        )
    if customer is None:
        fail(404, f"no customer with {query.kind} {query.value}")
    return web.json_response(schemas.customer_json(customer))


@requires_role("operator")
async def get_customer(request: web.Request) -> web.Response:
    async with _refusals():
        customer = await request.app[CUSTOMERS].get(
            current_user(request), int_path(request, "customer_id")
        )
    return web.json_response(schemas.customer_json(customer))


@requires_role("operator")
async def timeline(request: web.Request) -> web.Response:
    customer_id = int_path(request, "customer_id")
    query = parse_query(request, schemas.TimelineQuery)
    before = (query.before_at, query.before_id) if query.before_at and query.before_id else None
    async with _refusals():
        entries = await request.app[CUSTOMERS].timeline(
            current_user(request), customer_id, query.limit, before
        )
    return web.json_response({"entries": [schemas.entry_json(e) for e in entries]})


@requires_role("operator")
async def add_note(request: web.Request) -> web.Response:
    customer_id = int_path(request, "customer_id")
    body = await read_json(request, schemas.NoteBody)
    async with _refusals():
        entry = await request.app[CUSTOMERS].add_note(current_user(request), customer_id, body.text)
    return web.json_response(schemas.entry_json(entry), status=201)


@requires_role("operator")
async def add_identity(request: web.Request) -> web.Response:
    customer_id = int_path(request, "customer_id")
    body = await read_json(request, schemas.IdentityBody)
    async with _refusals():
        customer = await request.app[CUSTOMERS].add_identity(
            current_user(request), customer_id, body.kind, body.value
        )
    return web.json_response(schemas.customer_json(customer))


@requires_role("operator")
async def put_tags(request: web.Request) -> web.Response:
    customer_id = int_path(request, "customer_id")
    body = await read_json(request, schemas.TagsBody)
    async with _refusals():
        customer = await request.app[CUSTOMERS].set_tags(
            current_user(request), customer_id, body.tags
        )
    return web.json_response(schemas.customer_json(customer))


@requires_role("supervisor")
async def merge(request: web.Request) -> web.Response:
    customer_id = int_path(request, "customer_id")
    body = await read_json(request, schemas.MergeBody)
    async with _refusals():
        customer = await request.app[CUSTOMERS].merge(
            current_user(request), customer_id, body.other_id
        )
    return web.json_response(schemas.customer_json(customer))


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/customers", lookup)
    app.router.add_get("/api/v1/customers/{customer_id}", get_customer)
    app.router.add_get("/api/v1/customers/{customer_id}/timeline", timeline)
    app.router.add_post("/api/v1/customers/{customer_id}/notes", add_note)
    app.router.add_post("/api/v1/customers/{customer_id}/identities", add_identity)
    app.router.add_put("/api/v1/customers/{customer_id}/tags", put_tags)
    app.router.add_post("/api/v1/customers/{customer_id}/merge", merge)
