"""The login and home pages in a real headless Chromium against the real app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tests.app_helpers import create_user, make_config, start_client
from tests.harness.browser import chromium


@pytest.fixture(scope="module")
async def client(
    db_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TestClient]:
    await create_user(db_dsn, "nina", "operator")
    client = await start_client(make_config(db_dsn, tmp_path_factory.mktemp("data")))
    yield client
    await client.close()


async def test_an_operator_signs_in_through_the_page_and_out_again(
    client: TestClient, tmp_path: Path
) -> None:
    base = str(client.make_url("/"))
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(base)
        assert "/login" in page.url
        await page.fill("input[name=username]", "nina")
        await page.fill("input[name=password]", "wrong-password")
        await page.click("button[type=submit]")
        error = page.locator("#error")
        await error.wait_for(state="visible")
        assert "wrong username or password" in await error.inner_text()
        await page.fill("input[name=password]", "correct-horse-1")
        await page.click("button[type=submit]")
        await page.locator("#who").filter(has_text="nina").wait_for()
        assert "(operator)" in await page.inner_text("#who")
        await page.screenshot(path=str(tmp_path / "home.png"))
        await page.click("#logout")
        await page.wait_for_url("**/login")
        await page.goto(base)
        assert "/login" in page.url
