"""The login page, the operator page (home), the admin pages and their static files."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from server.auth import anonymous, requires_role
from server.http_util import fail

STATIC_DIR = Path(__file__).with_name("static")
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _file(name: str) -> web.Response:
    path = STATIC_DIR / name
    return web.Response(
        body=path.read_bytes(),
        content_type=_TYPES[path.suffix],
        charset="utf-8",
        headers=_SECURITY_HEADERS,
    )


@anonymous
async def login_page(request: web.Request) -> web.Response:
    return _file("login.html")


@requires_role("operator")
async def home_page(request: web.Request) -> web.Response:
    return _file("home.html")


@requires_role("admin")
async def admin_page(request: web.Request) -> web.Response:
    return _file("admin.html")


@anonymous
async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    # Only plain file names of known types: no path traversal, no listing.
    if "/" in name or name.startswith(".") or Path(name).suffix not in _TYPES:
        fail(404, "not found")
    if not (STATIC_DIR / name).is_file():
        fail(404, "not found")
    return _file(name)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_page)
    app.router.add_get("/", home_page)
    app.router.add_get("/admin", admin_page)
    app.router.add_get("/static/{name}", static_file)
