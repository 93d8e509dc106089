"""Login, roles, CSRF, API tokens and throttling on the real app and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.auth.access import ANONYMOUS, ROLES, access_of
from tests.app_helpers import create_user, login, make_config, start_client


@pytest.fixture(scope="module")
async def users(db_dsn: str) -> dict[str, int]:
    ids = {}
    for name, role in [("olga", "operator"), ("sam", "supervisor"), ("ada", "admin")]:
        ids[name] = (await create_user(db_dsn, name, role)).id
    return ids


@pytest.fixture
async def client(db_dsn: str, users: dict[str, int], tmp_path: Path) -> AsyncIterator[TestClient]:
    client = await start_client(make_config(db_dsn, tmp_path))
    yield client
    await client.close()


async def test_login_with_the_right_password_opens_a_session(client: TestClient) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"username": "olga", "password": "correct-horse-1"}
    )
    assert response.status == 200
    cookie = response.cookies["sb_session"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    me = await client.get("/api/v1/auth/me")
    assert me.status == 200
    assert (await me.json())["username"] == "olga"


async def test_a_wrong_password_and_an_unknown_user_fail_alike(client: TestClient) -> None:
    wrong_password = await client.post(
        "/api/v1/auth/login", json={"username": "sam", "password": "not-his-password"}
    )
    unknown_user = await client.post(
        "/api/v1/auth/login", json={"username": "nobody", "password": "correct-horse-1"}
    )
    assert wrong_password.status == unknown_user.status == 401
    assert await wrong_password.json() == await unknown_user.json()
    assert "sb_session" not in wrong_password.cookies
    assert (await client.get("/api/v1/auth/me")).status == 401


async def test_a_role_protected_endpoint_refuses_lower_roles_and_anonymous_callers(
    client: TestClient,
) -> None:
    assert (await client.get("/api/v1/users")).status == 401
    await login(client, "olga")
    refused = await client.get("/api/v1/users")
    assert refused.status == 403
    assert "admin" in (await refused.json())["error"]
    await login(client, "ada")
    allowed = await client.get("/api/v1/users")
    assert allowed.status == 200
    assert {u["username"] for u in await allowed.json()} >= {"olga", "sam", "ada"}


async def test_state_changes_with_a_session_cookie_need_the_csrf_token(
    client: TestClient,
) -> None:
    csrf = await login(client, "olga")
    without = await client.post("/api/v1/auth/tokens", json={"name": "crm"})
    assert without.status == 403
    assert "CSRF" in (await without.json())["error"]
    forged = await client.post(
        "/api/v1/auth/tokens", json={"name": "crm"}, headers={"X-CSRF-Token": "guess"}
    )
    assert forged.status == 403
    with_token = await client.post(
        "/api/v1/auth/tokens", json={"name": "crm"}, headers={"X-CSRF-Token": csrf}
    )
    assert with_token.status == 201


async def test_bearer_tokens_authenticate_integrations_until_revoked(
    client: TestClient,
) -> None:
    csrf = await login(client, "ada")
    created = await (
        await client.post(
            "/api/v1/auth/tokens", json={"name": "crm"}, headers={"X-CSRF-Token": csrf}
        )
    ).json()
    client.session.cookie_jar.clear()
    bearer = {"Authorization": f"Bearer {created['token']}"}
    assert (await client.get("/api/v1/users", headers=bearer)).status == 200
    # Integrations do not need CSRF tokens: a bearer token is not sent by browsers.
    made = await client.post(
        "/api/v1/users",
        json={"username": "bot", "password": "long-enough-1", "role": "operator"},
        headers=bearer,
    )
    assert made.status == 201
    revoked = await client.delete(f"/api/v1/auth/tokens/{created['id']}", headers=bearer)
    assert revoked.status == 200
    assert (await client.get("/api/v1/users", headers=bearer)).status == 401
    listed = await client.get("/api/v1/users", headers={"Authorization": "Bearer sbt_forged"})
    assert listed.status == 401


async def test_repeated_failures_throttle_logins_even_with_the_right_password(
    db_dsn: str, tmp_path: Path
) -> None:
    await create_user(db_dsn, "tom", "operator")
    config = make_config(db_dsn, tmp_path, auth={"login_max_failures": 3})
    client = await start_client(config)
    try:
        for _ in range(3):
            bad = await client.post(
                "/api/v1/auth/login", json={"username": "tom", "password": "wrong-wrong"}
            )
            assert bad.status == 401
        right = await client.post(
            "/api/v1/auth/login", json={"username": "tom", "password": "correct-horse-1"}
        )
        assert right.status == 429
        assert int(right.headers["Retry-After"]) > 0
    finally:
        await client.close()


async def test_a_session_cookie_planted_before_login_is_not_adopted(client: TestClient) -> None:
    client.session.cookie_jar.update_cookies({"sb_session": "attacker-chosen.value"})
    assert (await client.get("/api/v1/auth/me")).status == 401
    await login(client, "olga")
    issued = client.session.cookie_jar.filter_cookies(client.make_url("/"))["sb_session"].value
    assert issued != "attacker-chosen.value"
    assert (await client.get("/api/v1/auth/me")).status == 200


async def test_changing_a_password_ends_that_users_sessions(client: TestClient) -> None:
    csrf_admin = await login(client, "ada")
    made = await client.post(
        "/api/v1/users",
        json={"username": "kim", "password": "correct-horse-1", "role": "operator"},
        headers={"X-CSRF-Token": csrf_admin},
    )
    assert made.status == 201
    kim_id = (await made.json())["id"]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as kim:
        logged_in = await kim.post(
            client.make_url("/api/v1/auth/login"),
            json={"username": "kim", "password": "correct-horse-1"},
        )
        assert logged_in.status == 200
        assert (await kim.get(client.make_url("/api/v1/auth/me"))).status == 200
        changed = await client.patch(
            f"/api/v1/users/{kim_id}",
            json={"password": "brand-new-pass"},
            headers={"X-CSRF-Token": csrf_admin},
        )
        assert changed.status == 200
        assert (await kim.get(client.make_url("/api/v1/auth/me"))).status == 401


async def test_bad_input_gets_a_json_error_naming_the_field(client: TestClient) -> None:
    csrf = await login(client, "ada")
    response = await client.post(
        "/api/v1/users",
        json={"username": "x y", "password": "short", "role": "king"},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status == 422
    fields = {d["field"] for d in (await response.json())["details"]}
    assert fields == {"username", "password", "role"}
    not_json = await client.post("/api/v1/users", data="username=x", headers={"X-CSRF-Token": csrf})
    assert not_json.status == 415
    assert "error" in await not_json.json()


async def test_pages_send_anonymous_visitors_to_the_login_page(client: TestClient) -> None:
    response = await client.get("/", headers={"Accept": "text/html"}, allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/login")
    assert (await client.get("/login")).status == 200


def test_every_route_is_anonymous_by_declaration_or_role_protected(tmp_path: Path) -> None:
    config = make_config("postgresql://unused/db", tmp_path)
    app = create_app(config)
    undeclared = []
    for route in app.router.routes():
        access = access_of(route.handler)
        if access != ANONYMOUS and access not in ROLES:
            undeclared.append(f"{route.method} {route.resource.canonical}")
    assert undeclared == []
    anonymous_paths = {
        route.resource.canonical
        for route in app.router.routes()
        if access_of(route.handler) == ANONYMOUS
    }
    # Anonymous by decision: health, metrics, login, static files, and the public
    # endpoints of the visitors' web-chat and callback widgets (checked by site key and
    # origin; a callback's status by its random id).
    assert anonymous_paths <= {
        "/healthz",
        "/metrics",
        "/api/v1/auth/login",
        "/login",
        "/static/{name}",
        "/webchat/widget.js",
        "/api/v1/webchat/ws",
        "/api/v1/webchat/attachments/{attachment_id}",
        "/callback/widget.js",
        "/api/v1/callbacks",
        "/api/v1/callbacks/{request_id}",
    }
    assert isinstance(app, web.Application)
