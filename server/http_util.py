"""JSON errors and request validation shared by every HTTP handler."""

from __future__ import annotations

import json
from typing import Any, NoReturn, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

_STATUS = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    413: web.HTTPRequestEntityTooLarge,
    415: web.HTTPUnsupportedMediaType,
    422: web.HTTPUnprocessableEntity,
    429: web.HTTPTooManyRequests,
    503: web.HTTPServiceUnavailable,
}


def json_error(status: int, message: str, **extra: Any) -> web.HTTPException:
    """An HTTP error whose body is ``{"error": message, ...}``; raise it."""
    body = json.dumps({"error": message, **extra})
    cls = _STATUS[status]
    if cls is web.HTTPRequestEntityTooLarge:
        return web.HTTPRequestEntityTooLarge(
            max_size=0, actual_size=0, text=body, content_type="application/json"
        )
    return cls(text=body, content_type="application/json")


def fail(status: int, message: str, **extra: Any) -> NoReturn:
    raise json_error(status, message, **extra)


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]}
        for err in exc.errors()
    ]


async def read_json(request: web.Request, model: type[M]) -> M:
    """The request body validated into ``model``; 400/415/422 with reasons otherwise."""
    if request.content_type != "application/json":
        fail(415, "request body must be application/json")
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        fail(400, "request body is not valid JSON")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fail(422, "invalid request", details=validation_details(exc))


def parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        fail(422, "invalid query parameters", details=validation_details(exc))


def int_path(request: web.Request, name: str) -> int:
    value = request.match_info[name]
    if not value.isdigit() or len(value) > 18:
        fail(404, f"no such {name}")
    return int(value)
