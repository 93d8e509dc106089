"""Calls on a real Asterisk with real softphones: the screen-pop when the agent's phone
rings, and call controls over AMI (hang up, blind transfer, click-to-call)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from crm_connectors.keys import CUSTOMERS
from server.keys import POOL
from tests.harness.browser import chromium
from tests.harness.carrier import COMPANY_CALLER_ID, CarrierInstance, start_carrier
from tests.workspace.voice import ENDPOINTS, VoiceWorld, running_voice_world
from tests.workspace.world import PASSWORD

pytestmark = pytest.mark.asterisk
CALLER = "+79160000001"
ANNA = "+79160000003"
# A number in the outside world: a baresip registered at the test carrier.
OUTSIDE = "4930123456"


async def seed_customer(lab: VoiceWorld, number: str, name: str, *history: str) -> None:
    """A customer known from earlier contacts."""
    store = lab.world.app[CUSTOMERS].store
    async with lab.world.app[POOL].acquire() as conn:
        customer = await store.resolve_customer(conn, "phone", number, name)
        for summary in history:
            await store.add_timeline_entry(
                conn, customer.id, "note", source="test", source_ref=summary, summary=summary
            )


@pytest.fixture(scope="module")
async def carrier(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CarrierInstance]:
    instance = await start_carrier(tmp_path_factory.mktemp("carrier"), (OUTSIDE,))
    yield instance
    await instance.stop()


@pytest.fixture(scope="module")
async def lab(
    db_dsn: str, tmp_path_factory: pytest.TempPathFactory, carrier: CarrierInstance
) -> AsyncIterator[VoiceWorld]:
    workdir = tmp_path_factory.mktemp("voice")
    async with running_voice_world(workdir, db_dsn, carrier=carrier) as lab:
        await seed_customer(
            lab, CALLER, "Ivan Petrov", "Web chat about a broken lamp", "Promised a refund"
        )
        await seed_customer(lab, ANNA, "Anna Smirnova", "E-mail about an invoice", "Paid late")
        yield lab


@pytest.fixture
async def only_olga(lab: VoiceWorld) -> AsyncIterator[None]:
    await lab.world.status("oleg", "offline")
    await lab.world.status("olga", "available")
    yield
    await lab.world.status("olga", "offline")
    await lab.world.status("oleg", "offline")
    await lab.settle()
    await lab.world.close_all_chats()
    await lab.world.until_free("olga")
    await lab.world.until_free("oleg")


async def test_the_card_pops_when_the_phone_rings_and_the_call_is_hung_up_from_the_page(
    lab: VoiceWorld, only_olga: None
) -> None:
    olga = await lab.world.operator("olga")
    socket = await olga.socket()
    call_id = await lab.call(CALLER, "Ivan")
    await lab.ringing(ENDPOINTS["olga"])
    pop = await socket.inbox.wait_for(lambda m: m.get("type") == "screen_pop", timeout_s=10)
    card = pop["data"]
    assert card["call_id"] == call_id
    assert card["number"] == CALLER
    assert card["customer"]["name"] == "Ivan Petrov"
    summaries = [e["summary"] for e in card["timeline"]]
    assert {"Web chat about a broken lamp", "Promised a refund"} <= set(summaries)
    assert card["ivr_path"][:3] == ["main", "main:1", f"department:{lab.world.department_id}"]
    assert card["waited_s"] is not None and card["waited_s"] >= 0

    phone = lab.phones["olga"]
    await phone.wait_for("CALL_INCOMING")
    await phone.accept()
    await phone.wait_for("CALL_ESTABLISHED")
    hung = await olga.ok("POST", "/api/v1/workspace/calls/hangup")
    assert hung["hung_up"][0].startswith(f"PJSIP/{ENDPOINTS['olga']}-")
    await phone.wait_for("CALL_CLOSED")
    wrap = await socket.inbox.wait_for(
        lambda m: m.get("type") == "interaction" and m["data"]["state"] == "wrap_up"
    )
    done = await olga.ok(
        "POST",
        f"/api/v1/workspace/interactions/{wrap['data']['interaction_id']}/wrapup",
        {"disposition": "resolved", "notes": "refund sent"},
    )
    assert done["state"] == "completed"
    await socket.close()


async def test_a_call_is_blind_transferred_to_another_agent(
    lab: VoiceWorld, only_olga: None
) -> None:
    olga = await lab.world.operator("olga")
    await lab.call("+79160000002")
    olga_phone, oleg_phone = lab.phones["olga"], lab.phones["oleg"]
    await olga_phone.wait_for("CALL_INCOMING", timeout_s=20)
    await olga_phone.accept()
    await olga_phone.wait_for("CALL_ESTABLISHED")
    await olga.ok("POST", "/api/v1/workspace/calls/transfer", {"agent_id": lab.world.users["oleg"]})
    await olga_phone.wait_for("CALL_CLOSED")
    await oleg_phone.wait_for("CALL_INCOMING")
    await oleg_phone.accept()
    await oleg_phone.wait_for("CALL_ESTABLISHED")
    await oleg_phone.hangup()


async def test_a_call_is_blind_transferred_to_an_outside_number_through_the_carrier(
    lab: VoiceWorld, only_olga: None, carrier: CarrierInstance, tmp_path: Path
) -> None:
    outside = carrier.visitor_phone(tmp_path / "outside", OUTSIDE)
    await outside.start()
    try:
        olga = await lab.world.operator("olga")
        await lab.call("+79160000004")
        olga_phone = lab.phones["olga"]
        await olga_phone.wait_for("CALL_INCOMING", timeout_s=20)
        await olga_phone.accept()
        await olga_phone.wait_for("CALL_ESTABLISHED")
        await olga.ok("POST", "/api/v1/workspace/calls/transfer", {"number": f"+{OUTSIDE}"})
        await olga_phone.wait_for("CALL_CLOSED")
        # The carrier rings the outside phone, which sees the company, not the agent.
        ringing = await outside.wait_for("CALL_INCOMING", timeout_s=20)
        assert ringing.peer_uri is not None and f"sip:{COMPANY_CALLER_ID}@" in ringing.peer_uri
        await outside.accept()
        await outside.wait_for("CALL_ESTABLISHED")
        await outside.hangup()
        await outside.wait_for("CALL_CLOSED")
    finally:
        await outside.stop()


async def test_click_to_call_reaches_an_outside_number_with_the_company_caller_id(
    lab: VoiceWorld, carrier: CarrierInstance, tmp_path: Path
) -> None:
    outside = carrier.visitor_phone(tmp_path / "outside", OUTSIDE)
    await outside.start()
    try:
        olga = await lab.world.operator("olga")
        olga_phone = lab.phones["olga"]
        status, body = await olga.call(
            "POST", "/api/v1/workspace/calls/dial", {"number": f"+{OUTSIDE}"}
        )
        assert status == 202, body
        await olga_phone.wait_for("CALL_INCOMING")
        await olga_phone.accept()
        ringing = await outside.wait_for("CALL_INCOMING", timeout_s=20)
        assert ringing.peer_uri is not None and f"sip:{COMPANY_CALLER_ID}@" in ringing.peer_uri
        await outside.accept()
        await outside.wait_for("CALL_ESTABLISHED")
        await olga.ok("POST", "/api/v1/workspace/calls/hangup")
        await outside.wait_for("CALL_CLOSED")
        await lab.settle()
    finally:
        await outside.stop()


async def test_an_agent_calls_a_colleague_whose_endpoint_is_a_name_not_a_number(
    lab: VoiceWorld,
) -> None:
    olga_phone, oleg_phone = lab.phones["olga"], lab.phones["oleg"]
    assert not ENDPOINTS["oleg"].isdigit()
    await olga_phone.dial(olga_phone.uri(ENDPOINTS["oleg"]))
    await oleg_phone.wait_for("CALL_INCOMING")
    await oleg_phone.accept()
    await oleg_phone.wait_for("CALL_ESTABLISHED")
    await olga_phone.wait_for("CALL_ESTABLISHED")
    await olga_phone.hangup()
    await oleg_phone.wait_for("CALL_CLOSED")
    await lab.settle()


async def test_the_agents_context_rings_only_agents_phones(lab: VoiceWorld) -> None:
    """A name that is no agent's endpoint, or carries a second Dial target, is hung up
    in the dialplan: nothing rings."""
    olga_phone, oleg_phone = lab.phones["olga"], lab.phones["oleg"]
    rang_before = sum(e.type == "CALL_INCOMING" for e in oleg_phone.events)
    for target in ("nobody.here", f"1101&PJSIP/{ENDPOINTS['oleg']}"):
        await olga_phone.dial(olga_phone.uri(target))
        await olga_phone.wait_for("CALL_CLOSED")
    await lab.settle()
    assert sum(e.type == "CALL_INCOMING" for e in oleg_phone.events) == rang_before


async def test_click_to_call_rings_the_agents_phone_first(lab: VoiceWorld) -> None:
    olga = await lab.world.operator("olga")
    olga_phone, oleg_phone = lab.phones["olga"], lab.phones["oleg"]
    rang_before = sum(e.type == "CALL_INCOMING" for e in oleg_phone.events)
    status, _ = await olga.call(
        "POST", "/api/v1/workspace/calls/dial", {"agent_id": lab.world.users["oleg"]}
    )
    assert status == 202
    await olga_phone.wait_for("CALL_INCOMING")
    # Nobody else is rung before the agent answers.
    assert sum(e.type == "CALL_INCOMING" for e in oleg_phone.events) == rang_before
    await olga_phone.accept()
    await oleg_phone.wait_for("CALL_INCOMING")
    await oleg_phone.accept()
    await oleg_phone.wait_for("CALL_ESTABLISHED")
    await olga.ok("POST", "/api/v1/workspace/calls/hangup")
    await oleg_phone.wait_for("CALL_CLOSED")
    await lab.settle()
    status, body = await olga.call("POST", "/api/v1/workspace/calls/hangup")
    assert status == 409, body


async def test_in_the_page_the_card_pops_and_the_operator_holds_a_chat_and_a_call_at_once(
    lab: VoiceWorld, only_olga: None, tmp_path: Path
) -> None:
    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        errors: list[object] = []
        page.on("pageerror", lambda error: errors.append(error))
        await page.goto(str(lab.world.client.make_url("/")))
        await page.fill("input[name=username]", "olga")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await expect(page.locator("#connection")).to_have_text("Connected")
        await page.select_option("#status", "available")
        await expect(page.locator("#status")).to_have_value("available")

        # A chat first (20 units of 100)...
        visitor = lab.world.visitor()
        await visitor.connect()
        assert (await visitor.say("Is my refund on its way?"))["type"] == "ack"
        await page.locator("#offers .accept").first.click()
        await expect(page.locator(".chat-log")).to_contain_text("Is my refund on its way?")

        # ... then a call (60 more) rings the softphone, and the card pops.
        await lab.call(ANNA, "Anna")
        await lab.phones["olga"].wait_for("CALL_INCOMING", timeout_s=20)
        customer = page.locator("#customer")
        await expect(customer.locator(".card-banner")).to_have_text("Incoming call")
        await expect(customer.locator(".number")).to_have_text(ANNA)
        await expect(customer.locator(".name")).to_have_text("Anna Smirnova")
        await expect(customer.locator(".timeline")).to_contain_text("E-mail about an invoice")
        await expect(customer.locator(".timeline")).to_contain_text("Paid late")
        await expect(customer.locator(".ivr-path")).to_contain_text("main → main:1")
        await page.screenshot(path=str(tmp_path / "screen-pop.png"))

        await lab.phones["olga"].accept()
        await lab.phones["olga"].wait_for("CALL_ESTABLISHED")
        current = page.locator("#current li:not(.empty)")
        await expect(current).to_have_count(2)
        await expect(current.locator(".badge")).to_have_text(["Web chat", "Call"])
        await current.nth(1).click()
        await page.click(".call-controls .hangup")
        await lab.phones["olga"].wait_for("CALL_CLOSED")
        await expect(page.locator(".wrapup")).to_be_visible()
        await page.select_option(".wrapup select[name=disposition]", "follow_up")
        await page.fill(".wrapup textarea[name=notes]", "call back Friday")
        await page.click(".wrapup button[type=submit]")
        await expect(current).to_have_count(1)
        await page.screenshot(path=str(tmp_path / "after-call.png"))
        assert errors == []
