"""The operator page and the chat widget in a real headless Chromium: a visitor on a
shop's site chats with an operator; what customers write is shown as text, never run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from server.keys import POOL
from tests.harness.browser import chromium
from tests.workspace.shop import origin_of, shop_site
from tests.workspace.world import PASSWORD, SITE_KEY, World, running_world
from text_channels.keys import TEXT_CHANNELS
from workspace.keys import WORKSPACE

XSS_NAME = '<img src=x onerror="window.__pwned=1">Mallory'
XSS_TEXT = "<script>window.__pwned=2</script><b>bold?</b>"
# Script errors of every page of this module; none is expected.
PAGE_ERRORS: list[object] = []


@pytest.fixture(scope="module")
async def world(db_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with running_world(db_dsn, tmp_path_factory.mktemp("pages-chat")) as world:
        yield world


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


async def operator_page(browser: Browser, world: World, username: str) -> Page:
    context = await browser.new_context()
    page = await context.new_page()
    page.on("pageerror", lambda error: PAGE_ERRORS.append(error))
    await page.goto(str(world.client.make_url("/")))
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#connection")).to_have_text("Connected")
    return page


async def test_a_visitor_and_an_operator_chat_through_widget_and_page(
    world: World, browser: Browser, tmp_path: Path
) -> None:
    async with shop_site(str(world.client.make_url("/")), SITE_KEY) as shop:
        await world.app[TEXT_CHANNELS].sites.put(
            SITE_KEY, "Shop", world.department_id, [origin_of(shop)], None
        )
        operator = await operator_page(browser, world, "olga")
        await operator.select_option("#status", "available")
        await expect(operator.locator("#status")).to_have_value("available")
        await world.status("oleg", "offline")

        visitor = await (await browser.new_context()).new_page()
        visitor.on("pageerror", lambda error: PAGE_ERRORS.append(error))
        await visitor.goto(str(shop.make_url("/")))
        await visitor.click(".launcher")
        await visitor.fill(".composer textarea", "Hello, my lamp is broken")
        await visitor.press(".composer textarea", "Enter")
        await expect(visitor.locator(".msg.in[data-id]:not([data-id=''])")).to_have_count(1)
        await expect(visitor.locator(".pending")).to_have_count(0)

        await operator.locator("#offers .accept").first.click()
        log = operator.locator(".chat-log")
        await expect(log).to_contain_text("Hello, my lamp is broken")
        await operator.fill("textarea[name=message]", "Sorry to hear that! Order number?")
        await operator.press("textarea[name=message]", "Enter")
        await expect(visitor.locator(".msg.out")).to_contain_text("Sorry to hear that!")

        await visitor.fill(".composer textarea", "4711")
        await visitor.press(".composer textarea", "Enter")
        await expect(log.locator(".msg.in").last).to_contain_text("4711")

        # Tags on the card are the customer store's, kept across the page's reload below.
        tag_input = operator.locator("#customer .tags input")
        await tag_input.fill("lamp owner")
        await tag_input.press("Enter")
        await expect(operator.locator("#customer .tag")).to_have_count(1)
        await expect(operator.locator("#customer .tag")).to_contain_text("lamp owner")

        # The page's socket drops; what the visitor writes meanwhile arrives, once.
        await world.app[WORKSPACE].sockets.close_all()
        await visitor.fill(".composer textarea", "while you were away")
        await visitor.press(".composer textarea", "Enter")
        await expect(operator.locator("#connection")).to_have_text("Connected")
        await expect(log.locator(".msg.in", has_text="while you were away")).to_have_count(1)

        # What customers write is text on both pages, never markup or script.
        async with world.app[POOL].acquire() as conn:
            conversation = await conn.fetchrow(
                "SELECT customer_id FROM conversations WHERE state = 'open' ORDER BY id DESC"
            )
            await conn.execute(
                "UPDATE customers SET display_name = $2 WHERE id = $1",
                conversation["customer_id"],
                XSS_NAME,
            )
        await visitor.fill(".composer textarea", XSS_TEXT)
        await visitor.press(".composer textarea", "Enter")
        await expect(log.locator(".msg.in").last).to_contain_text(XSS_TEXT)
        await operator.reload()
        await expect(operator.locator("#connection")).to_have_text("Connected")
        await operator.locator("#current li").first.click()
        await expect(operator.locator("#customer .name")).to_have_text(XSS_NAME)
        await expect(operator.locator("#customer .tag")).to_contain_text("lamp owner")
        await expect(operator.locator(".chat-log .msg.in").last).to_contain_text(XSS_TEXT)
        await expect(visitor.locator(".msg.in").last).to_contain_text(XSS_TEXT)
        assert await operator.evaluate("window.__pwned") is None
        assert await visitor.evaluate("window.__pwned") is None
        assert await operator.locator("#work b, #work script, #customer img").count() == 0
        await operator.screenshot(path=str(tmp_path / "operator.png"))
        await visitor.screenshot(path=str(tmp_path / "visitor.png"))

        await operator.click(".close-chat")
        await expect(visitor.locator(".stars button")).to_have_count(5)
        await visitor.click(".stars button[data-score='5']")
        await expect(visitor.locator(".rating")).to_contain_text("Thank you")
        await operator.click(".wrapup button[type=submit]")
        await expect(operator.locator("#current li.empty")).to_have_count(1)
        # Russian, chosen once and kept.
        await operator.select_option("#language", "ru")
        await expect(operator.locator("#current li.empty")).to_have_text("Ничего в работе")
        await operator.reload()
        await expect(operator.locator("#status option[value=available]")).to_have_text("На линии")
        assert PAGE_ERRORS == []


async def test_an_admin_sets_up_an_agent_department_profile_canned_response_and_site(
    world: World, browser: Browser, tmp_path: Path
) -> None:
    page = await (await browser.new_context()).new_page()
    page.on("pageerror", lambda error: PAGE_ERRORS.append(error))
    await page.goto(str(world.client.make_url("/admin")))
    await page.fill("input[name=username]", "ada")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    section = page.locator("#section")
    toast = page.locator("#toast")

    await section.locator("form.new-user input[name=username]").fill("nika")
    await section.locator("form.new-user input[name=display_name]").fill("Ника")
    await section.locator("form.new-user input[name=password]").fill("correct-horse-2")
    await section.locator("form.new-user button").click()
    await expect(section.locator("table")).to_contain_text("Ника")

    await page.click("[data-tab=agents]")
    await section.locator("form.agent select[name=user]").select_option(label="nika (5)")
    await section.locator("form.agent input[name=sip_endpoint]").fill("1109")
    await section.locator("form.agent button").click()
    await expect(section.locator("form.agent .embed")).to_contain_text("1109: ")

    await page.click("[data-tab=departments]")
    await section.locator("form.department input[name=name]").fill("sales")
    await section.locator("form.department textarea").fill('{"channel_costs": {"webchat": 900000}}')
    await section.locator("form.department button").click()
    await expect(toast).to_contain_text("settings.channel_costs")
    await section.locator("form.department textarea").fill('{"channel_costs": {"webchat": 25}}')
    await section.locator("form.department button").click()
    await expect(section.locator("table")).to_contain_text("sales")

    await page.click("[data-tab=profiles]")
    form = section.locator("form.profile")
    await form.locator("select[name=agent]").select_option(label="nika")
    await expect(form).to_have_attribute("aria-busy", "false")
    await form.locator("input[name=capacity]").fill("120")
    await form.locator("textarea[name=channel_costs]").fill('{"webchat": 30}')
    await form.locator("textarea[name=skills]").fill('{"english": 3}')
    await form.get_by_label("sales").check()
    await form.locator("button[type=submit]").click()
    await expect(section.locator("table")).to_contain_text("english")
    await expect(section.locator("table")).to_contain_text("120")

    await page.click("[data-tab=canned]")
    await section.locator("form.canned input[name=title]").fill("Greeting")
    await section.locator("form.canned textarea").fill("Hello! How can I help?")
    await section.locator("form.canned button").click()
    await expect(section.locator("table")).to_contain_text("Hello! How can I help?")

    await page.click("[data-tab=sites]")
    await section.locator("form.site input[name=name]").fill("Blog")
    await section.locator("form.site input[name=allowed_origins]").fill("https://blog.example")
    await section.locator("form.site button").click()
    await expect(section.locator("table .embed").last).to_contain_text("/webchat/widget.js")
    await page.screenshot(path=str(tmp_path / "admin.png"))

    # Operators have no admin page.
    olga = await world.operator("olga")
    status, _ = await olga.call("GET", "/admin")
    assert status == 403
    assert PAGE_ERRORS == []
