"""Callbacks on the real stack: a visitor's request rings an agent's baresip first, the
answer dials the visitor's baresip through the trunk and the carrier, and both end up
in one bridge; an agent who does not answer passes the callback on; a visitor who does
not answer is tried again, then the request fails.

Switchboard's Asterisk reaches the visitors through its PJSIP trunk to a second
Asterisk playing the carrier (tests/harness/carrier.py), where the visitors' baresips
are registered under their numbers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from crm_connectors.keys import CUSTOMERS
from ivr.queue import VoiceQueue
from recording.storage import LocalDirectoryStore
from tests.harness.carrier import COMPANY_CALLER_ID
from tests.harness.softphone import tone_wav
from tests.recording.tones import WINDOW_S, channel_samples, rms, tone_power, windows

from .lab import HOURS_SITE, PHONELESS, VISITORS, Lab, running_lab

BERLIN = ZoneInfo("Europe/Berlin")
# The agents' softphones send their default tone (500 Hz); the first visitor this one.
AGENT_HZ, VISITOR_HZ = 500, 1000

pytestmark = pytest.mark.asterisk


@pytest.fixture(scope="module")
async def lab(tmp_path_factory: pytest.TempPathFactory, db_dsn: str) -> AsyncIterator[Lab]:
    async with running_lab(tmp_path_factory.mktemp("callback"), db_dsn) as lab:
        yield lab


@pytest.fixture(autouse=True)
async def quiet(lab: Lab) -> AsyncIterator[None]:
    """Each test starts and ends with no call up and every agent offline."""
    await lab.set_available(*lab.agents, PHONELESS, available=False)
    yield
    await lab.set_available(*lab.agents, PHONELESS, available=False)
    await lab.settle()


async def test_the_agent_rings_first_then_the_visitor_and_both_are_bridged(lab: Lab) -> None:
    agent = lab.agents["201"]
    # The visitor sends another tone than the agent's phone: the recording tells them apart.
    tone = tone_wav(lab.workdir / "visitor-tone.wav", seconds=120, frequency=VISITOR_HZ)
    visitor = await lab.visitor(VISITORS[0], audio_in=tone)
    await lab.set_available("201")
    async with lab.operator_socket("201") as page:
        status, body = await lab.post(
            {"phone": f"+{VISITORS[0]}", "name": "Ada", "page": "http://shop.test/cart",
             "comment": "after 5 pm"}
        )  # fmt: skip
        assert status == 201, body
        assert body["status"] == "queued"
        request_id = body["id"]
        ringing = await agent.wait_for("CALL_INCOMING", timeout_s=10)
        assert ringing.peer_uri is not None and f"+{VISITORS[0]}" in ringing.peer_uri
        # The agent's page shows the visitor's words the moment the phone rings.
        seen = []
        try:
            async with asyncio.timeout(10):
                while (message := await page.receive_json()).get("type") != "screen_pop":
                    seen.append(message)
        except TimeoutError:
            raise AssertionError(seen) from None
    assert message["data"]["callback"] == {
        "phone": f"+{VISITORS[0]}", "name": "Ada", "page": "http://shop.test/cart",
        "comment": "after 5 pm",
    }  # fmt: skip
    # The visitor's phone stays quiet until the agent answers.
    assert not [e for e in visitor.events if e.type == "CALL_INCOMING"]
    await lab.status_is(request_id, "calling")
    await agent.accept()

    incoming = await visitor.wait_for("CALL_INCOMING", timeout_s=15)
    assert incoming.peer_uri is not None and f"sip:{COMPANY_CALLER_ID}@" in incoming.peer_uri
    await visitor.accept()
    await visitor.wait_for("CALL_ESTABLISHED", timeout_s=10)

    # The agent and the visitor talk in one bridge, the agent's phone and the trunk
    # alone in it at the same time: the Local pair that rang the agent and dialled the
    # visitor was optimised away once the visitor answered.
    agent_channel, trunk_channel, bridge = await one_bridge(lab, "PJSIP/201-", "PJSIP/trunk-")
    assert await bridge_members(lab, bridge) == {agent_channel, trunk_channel}
    # Until the end of the conversation the attempt is open: no result yet.
    await asyncio.sleep(1.5)
    assert (await lab.request(request_id))["status"] == "calling"
    (attempt,) = await lab.attempts(request_id)
    assert attempt["result"] is None

    await visitor.hangup()
    done = await lab.status_is(request_id, "completed")
    assert done["outcome"] == "answered"
    assert done["attempts"] == 1
    (attempt,) = await lab.attempts(request_id)
    assert attempt["result"] == "ANSWER"
    assert attempt["agent_id"] == lab.agent_ids["201"]

    # The visitor's status page says so, and the customer's timeline tells the story.
    response = await lab.client.get(f"/api/v1/callbacks/{request_id}")
    assert (await response.json())["status"] == "completed"

    async def timeline() -> list[str]:
        async with lab.pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT source_ref FROM timeline_entries
                   WHERE source = 'callback' AND source_ref LIKE $1""",
                f"{request_id}:%",
            )
        refs = sorted(r["source_ref"].split(":", 1)[1] for r in rows)
        return refs if "finished" in refs else []

    assert await lab.until(timeline, "timeline entries") == ["attempt:1", "finished", "requested"]

    async def journal() -> object:
        async with lab.pool.acquire() as conn:
            return await conn.fetchval(
                "SELECT outcome FROM calls WHERE call_id = $1", attempt["call_id"]
            )

    assert await lab.until(journal, "the journal's outcome") == "callback_answered"

    # The conversation is recorded, the visitor on the left (customer) and the agent on
    # the right, each on their own side.
    async def stored() -> object:
        async with lab.pool.acquire() as conn:
            return await conn.fetchrow(
                "SELECT * FROM recordings WHERE call_id = $1 AND state <> 'raw'",
                attempt["call_id"],
            )

    recording = await lab.until(stored, "the call's recording stored")
    assert recording["state"] == "converted", recording["failure_reason"]
    audio = lab.workdir / "callback.ogg"
    store = LocalDirectoryStore(lab.workdir / "data" / "recordings")
    chunks = [chunk async for chunk in store.read_range(recording["storage_key"])]
    audio.write_bytes(b"".join(chunks))
    left, right = (windows(channel_samples(audio, c)) for c in (0, 1))
    heard = [i for i in range(len(left)) if rms(left[i]) > 1000 and rms(right[i]) > 1000]
    assert len(heard) * WINDOW_S > 1.0, recording["duration_s"]
    for i in heard:
        assert tone_power(left[i], VISITOR_HZ) > 5 * tone_power(left[i], AGENT_HZ), i
        assert tone_power(right[i], AGENT_HZ) > 5 * tone_power(right[i], VISITOR_HZ), i


async def one_bridge(lab: Lab, *prefixes: str) -> tuple[str, ...]:
    """The channels (one per name prefix) found in one bridge together, and that bridge,
    as the AMI's BridgeEnter, BridgeLeave and Hangup events tell it."""

    def together() -> tuple[str, ...] | None:
        where: dict[str, str] = {}
        for e in lab.ami.events:
            name, channel = e.get("Event"), e.get("Channel", "")
            if name == "BridgeEnter":
                where[channel] = e["BridgeUniqueid"]
            elif name in ("BridgeLeave", "Hangup"):
                where.pop(channel, None)
        found = [[c for c in where if c.startswith(p)] for p in prefixes]
        if all(len(f) == 1 for f in found):
            channels = [f[0] for f in found]
            if len({where[c] for c in channels}) == 1:
                return (*channels, where[channels[0]])
        return None

    async def check() -> tuple[str, ...] | None:
        return together()

    return await lab.until(check, f"{prefixes} in one bridge", timeout_s=10)


async def bridge_members(lab: Lab, bridge: str) -> set[str]:
    """The channels in ``bridge`` now, in Asterisk's own words (AMI BridgeInfo)."""
    response = await lab.ami.send({"Action": "BridgeInfo", "BridgeUniqueid": bridge})
    assert response.get("Response") == "Success", response
    action = response["ActionID"]
    await lab.ami.wait_event(
        lambda e: e.get("Event") == "BridgeInfoComplete" and e.get("ActionID") == action
    )
    return {
        e["Channel"]
        for e in lab.ami.events
        if e.get("Event") == "BridgeInfoChannel" and e.get("ActionID") == action
    }


async def test_an_agent_who_does_not_answer_passes_the_callback_to_the_next(lab: Lab) -> None:
    first, second = lab.agents["201"], lab.agents["202"]
    visitor = await lab.visitor(VISITORS[1])
    # 201 is the only one available: the offer goes to them; 202 comes in while 201 rings.
    await lab.set_available("201")
    status, body = await lab.post({"phone": f"+{VISITORS[1]}"})
    assert status == 201, body
    await first.wait_for("CALL_INCOMING", timeout_s=10)
    await lab.set_available("202")
    # 201 lets it ring out (ring timeout 4 s); routing offers it to 202.
    await second.wait_for("CALL_INCOMING", timeout_s=20)
    await second.accept()
    await visitor.wait_for("CALL_INCOMING", timeout_s=15)
    await visitor.accept()
    await visitor.wait_for("CALL_ESTABLISHED", timeout_s=10)
    await second.hangup()
    done = await lab.status_is(body["id"], "completed")
    (attempt,) = await lab.attempts(body["id"])
    assert attempt["agent_id"] == lab.agent_ids["202"]
    assert done["attempts"] == 1


async def test_a_visitor_who_does_not_answer_is_tried_again_then_the_request_fails(
    lab: Lab,
) -> None:
    agent = lab.agents["201"]
    await agent.set_answer_mode("auto")
    visitor = await lab.visitor(VISITORS[2])
    try:
        await lab.set_available("201")
        status, body = await lab.post({"phone": f"+{VISITORS[2]}"})
        assert status == 201, body
        # Two attempts (callback_max_attempts = 2), each rings the visitor 5 s.
        await visitor.wait_for("CALL_INCOMING", timeout_s=20)
        # Too late to withdraw: the visitor's phone rings.
        response = await lab.client.delete(
            f"/api/v1/callbacks/{body['id']}", headers={"X-Callback-Key": body["cancel_key"]}
        )
        assert response.status == 409
        assert "calling you" in (await response.json())["error"]
        await visitor.wait_for("CALL_CLOSED", timeout_s=20)
        await visitor.wait_for("CALL_INCOMING", timeout_s=30)
        failed = await lab.status_is(body["id"], "failed", timeout_s=30)
    finally:
        await agent.set_answer_mode("manual")
    assert failed["attempts"] == 2
    assert failed["outcome"] == "noanswer"
    attempts = await lab.attempts(body["id"])
    assert [a["result"] for a in attempts] == ["NOANSWER", "NOANSWER"]
    # The agent was released in between: each attempt was an interaction of its own,
    # ended (not kept in wrap-up) when the visitor did not answer.
    first, second = (a["interaction_id"] for a in attempts)
    assert first != second
    async with lab.pool.acquire() as conn:
        states = await conn.fetch(
            "SELECT state, agent_id FROM interactions WHERE id = ANY($1::bigint[])",
            [first, second],
        )
        state = await lab.runtime.service.agent_state(conn, lab.agent_ids["201"])
    assert {r["state"] for r in states} == {"completed"}
    assert state.load == 0
    incoming = [e for e in visitor.events if e.type == "CALL_INCOMING"]
    assert len(incoming) == 2


async def test_a_number_with_a_pending_request_gets_that_request_back(lab: Lab) -> None:
    status, first = await lab.post({"phone": f"+{VISITORS[3]}"})
    assert status == 201, first
    # Written the national way (the site serves one country) or spaced: the same number.
    for written in (f"0{VISITORS[3][2:]}", f"+49 {VISITORS[3][2:]}"):
        status, again = await lab.post({"phone": written})
        assert status == 200, again
        assert again["id"] == first["id"]
        assert again["status"] == "queued"
    # Nobody is available: it waits; withdrawn here so later tests start clean.
    row = await lab.request(first["id"])
    async with lab.pool.acquire() as conn:
        await lab.runtime.service.abandon(conn, row["interaction_id"], "test over")
        await conn.execute(
            """UPDATE callback_requests SET status = 'cancelled', ended_at = now()
               WHERE id = $1::uuid""",
            first["id"],
        )


async def test_the_status_of_an_unknown_request_is_not_found(lab: Lab) -> None:
    for path in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        response = await lab.client.get(f"/api/v1/callbacks/{path}")
        assert response.status == 404
        assert "error" in await response.json()


async def test_after_hours_the_request_waits_for_the_opening_and_is_dialled_then(
    lab: Lab,
) -> None:
    agent = lab.agents["202"]
    visitor = await lab.visitor(VISITORS[4])
    saturday = datetime(2026, 11, 28, 20, 0, tzinfo=BERLIN)
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)
    lab.clock.jump_to(saturday)
    try:
        await lab.set_available("202")
        status, body = await lab.post({"phone": f"+{VISITORS[4]}"}, site=HOURS_SITE)
        assert status == 201, body
        assert body["status"] == "scheduled"
        assert datetime.fromisoformat(body["scheduled_for"]) == monday
        # The agent is free, yet nothing rings before the opening.
        assert (await lab.request(body["id"]))["interaction_id"] is None
        lab.clock.jump_to(monday)
        await agent.wait_for("CALL_INCOMING", timeout_s=15)
        await agent.accept()
        await visitor.wait_for("CALL_INCOMING", timeout_s=15)
        await visitor.accept()
        await visitor.wait_for("CALL_ESTABLISHED", timeout_s=10)
        await agent.hangup()
        done = await lab.status_is(body["id"], "completed")

        # Back to today only once the agent's wrap-up is over: it ends on Monday.
        async def free() -> bool:
            async with lab.pool.acquire() as conn:
                state = await lab.runtime.service.agent_state(conn, lab.agent_ids["202"])
            return state.load == 0

        await lab.until(free, "agent 202 out of wrap-up")
    finally:
        lab.clock.jump_to(datetime.now(BERLIN))
    assert done["attempts"] == 1


async def test_an_ivr_caller_who_pressed_1_is_called_back_by_the_same_machinery(
    lab: Lab,
) -> None:
    agent = lab.agents["201"]
    visitor = await lab.visitor(VISITORS[1])
    customers = lab.app[CUSTOMERS].store
    # What the IVR does when a caller asks to be called back later (ivr.flow): a
    # callback interaction with the caller's number as Asterisk gave it.
    queue = VoiceQueue(lab.pool, lab.runtime.service, lab.runtime.overview, customers)
    async with lab.pool.acquire() as conn:
        customer = await customers.resolve_customer(conn, "phone", f"+{VISITORS[1]}")
    interaction = await queue.enqueue_callback(
        customer.id, lab.department_id, "1700000000.1", f"0{VISITORS[1][2:]}"
    )
    await lab.set_available("201")
    await agent.wait_for("CALL_INCOMING", timeout_s=10)
    await agent.accept()
    await visitor.wait_for("CALL_INCOMING", timeout_s=15)
    await visitor.accept()
    await visitor.wait_for("CALL_ESTABLISHED", timeout_s=10)
    await visitor.hangup()

    async def adopted() -> object:
        async with lab.pool.acquire() as conn:
            return await conn.fetchrow(
                "SELECT * FROM callback_requests WHERE site = 'ivr' AND status = 'completed'"
            )

    request = await lab.until(adopted, "the IVR's callback completed")
    assert request["phone"] == f"+{VISITORS[1]}"
    assert request["interaction_id"] == interaction.id
    assert request["customer_id"] == customer.id


async def test_a_visitor_who_cancels_stops_the_agents_phone_ringing(lab: Lab) -> None:
    agent = lab.agents["202"]
    await lab.set_available("202")
    status, body = await lab.post({"phone": "+4930901829"})
    assert status == 201, body
    await agent.wait_for("CALL_INCOMING", timeout_s=10)
    response = await lab.client.delete(
        f"/api/v1/callbacks/{body['id']}?site=shop-test",
        headers={"Origin": "http://shop.test", "X-Callback-Key": body["cancel_key"]},
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://shop.test"
    assert (await response.json())["status"] == "cancelled"
    # Well before the ring timeout (4 s) would have ended it.
    await agent.wait_for("CALL_CLOSED", timeout_s=2.5)
    row = await lab.request(body["id"])
    assert row["status"] == "cancelled" and row["attempts"] == 0
    async with lab.pool.acquire() as conn:
        state = await conn.fetchval(
            "SELECT state FROM interactions WHERE id = $1", row["interaction_id"]
        )
    assert state == "abandoned"
    again = await lab.client.delete(
        f"/api/v1/callbacks/{body['id']}", headers={"X-Callback-Key": body["cancel_key"]}
    )
    assert again.status == 200 and (await again.json())["status"] == "cancelled"
    assert (await lab.client.delete("/api/v1/callbacks/not-an-id")).status == 404


async def test_an_agent_whose_phone_fails_at_once_is_not_rung_in_a_loop(lab: Lab) -> None:
    await lab.set_available(PHONELESS)
    status, body = await lab.post({"phone": "+4930901828"})
    assert status == 201, body
    row = await lab.request(body["id"])

    async def offers() -> list[str]:
        async with lab.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT state FROM offers WHERE interaction_id = $1 ORDER BY id",
                row["interaction_id"],
            )
        return [r["state"] for r in rows]

    # The phoneless agent's offer is left to time out (6 s), not declined and re-made.
    assert await lab.until(offers, "an offer") == ["offered"]
    await lab.set_available("201")
    await lab.agents["201"].wait_for("CALL_INCOMING", timeout_s=15)
    assert (await offers())[0] == "timed_out"
    assert len(await offers()) == 2
    await lab.agents["201"].hangup()
    await lab.status_is(body["id"], "queued", "calling")
    async with lab.pool.acquire() as conn:
        await lab.runtime.service.set_agent_status(conn, lab.agent_ids["201"], "offline")
    response = await lab.client.delete(
        f"/api/v1/callbacks/{body['id']}", headers={"X-Callback-Key": body["cancel_key"]}
    )
    assert response.status == 200
