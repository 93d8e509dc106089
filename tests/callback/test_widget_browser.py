"""The embeddable widget in headless Chromium: a shop's page on an origin of its own
carries one <script> tag from the server; the visitor fills in the form, and the
confirmation shows. Then a page on an origin the site does not list is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from asterisk_conf.instance import allocate_port_block
from routing.keys import ROUTING
from routing.settings import DepartmentSettings
from server.keys import POOL
from tests.app_helpers import make_config, start_client
from tests.harness.browser import chromium

PAGE = """<!doctype html><html><head><title>Shop</title>
<style>input {{ display: none }}</style></head>
<body><h1>Our shop</h1>
<script src="{server}/callback/widget.js" async data-site="shop"
        data-color="#aa3300" data-title="Call me back" data-button="Call me"
        data-thanks="Thanks, we will call you"></script>
</body></html>"""


@pytest.fixture(scope="module")
def shop_port() -> int:
    return allocate_port_block(2)


@pytest.fixture(scope="module")
async def server(
    tmp_path_factory: pytest.TempPathFactory, db_dsn: str, shop_port: int
) -> AsyncIterator[TestClient]:
    config = make_config(db_dsn, tmp_path_factory.mktemp("widget")).replace(
        callback={
            "sites": [
                {
                    "key": "shop",
                    "origins": [f"http://127.0.0.1:{shop_port}"],
                    "countries": ["DE"],
                    "department_id": 1,
                }
            ]
        }
    )
    client = await start_client(config)
    async with client.app[POOL].acquire() as conn:
        await client.app[ROUTING].admin.create_department(conn, "Sales", DepartmentSettings())
    yield client
    await client.close()


async def _shop(port: int, server_url: str) -> TestServer:
    """The customer's site: a page that knows nothing but the script tag."""

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=PAGE.format(server=server_url), content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    shop = TestServer(app, host="127.0.0.1", port=port)
    await shop.start_server()
    return shop


async def test_the_widget_on_a_shop_page_takes_a_number_and_confirms(
    server: TestClient, shop_port: int
) -> None:
    server_url = str(server.make_url("")).rstrip("/")
    allowed = await _shop(shop_port, server_url)
    stranger = await _shop(shop_port + 1, server_url)
    try:
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{shop_port}/")
            widget = page.locator("[data-switchboard-callback=shop]")
            # The host page hides every input; the widget's live in its shadow root.
            await widget.locator("h2").wait_for(timeout=10_000)
            assert await widget.locator("h2").inner_text() == "Call me back"
            await widget.locator("input[name=phone]").fill("+49 30 901840")
            await widget.locator("input[name=name]").fill("Grace")
            await widget.locator("button").click()
            done = widget.locator(".done")
            await done.wait_for(timeout=10_000)
            assert (await done.inner_text()).startswith("Thanks, we will call you")
            assert await done.get_attribute("data-status") == "queued"

            other = await browser.new_page()
            await other.goto(f"http://127.0.0.1:{shop_port + 1}/")
            form = other.locator("[data-switchboard-callback=shop]")
            await form.locator("input[name=phone]").fill("+49 30 901841")
            await form.locator("button").click()
            error = form.locator(".err")
            await error.wait_for(timeout=10_000)
            # The server refuses the stranger's origin; without CORS the widget cannot
            # read why, and says something went wrong.
            assert await error.inner_text()
    finally:
        await allowed.close()
        await stranger.close()
    async with server.app[POOL].acquire() as conn:
        rows = await conn.fetch("SELECT phone, name, page FROM callback_requests")
    assert [(r["phone"], r["name"]) for r in rows] == [("+4930901840", "Grace")]
    assert rows[0]["page"] == f"http://127.0.0.1:{shop_port}/"
