"""Declaring and enforcing who may call a handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from aiohttp import web

Role = Literal["operator", "supervisor", "admin"]
# Higher roles include the lower ones: an admin may do what a supervisor may.
ROLES: tuple[Role, ...] = ("operator", "supervisor", "admin")
ACCESS_ATTR = "__switchboard_access__"
ANONYMOUS = "anonymous"

H = TypeVar("H", bound=Callable[..., Any])


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    role: Role
    sip_endpoint: str | None = None

    def has_role(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def requires_role(role: Role) -> Callable[[H], H]:
    """The handler needs a logged-in user with at least ``role``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def mark(handler: H) -> H:
        setattr(handler, ACCESS_ATTR, role)
        return handler

    return mark


def anonymous(handler: H) -> H:
    """The handler is public by decision (health checks, login, public widgets)."""
    setattr(handler, ACCESS_ATTR, ANONYMOUS)
    return handler


def access_of(handler: Any) -> str | None:
    """The declared access of a route handler, or None if it declares nothing."""
    return getattr(handler, ACCESS_ATTR, None)


USER_KEY = web.RequestKey("user", User)
AUTH_KIND_KEY = web.RequestKey("auth_kind", str)


def current_user(request: web.Request) -> User:
    user = request.get(USER_KEY)
    if user is None:
        raise web.HTTPUnauthorized(
            text='{"error": "login required"}', content_type="application/json"
        )
    return user
