"""The outbound trunk against a real carrier: Switchboard's Asterisk dials an outside
number through ``[outbound]``, a second Asterisk (tests/harness/carrier.py) plays the
phone network, and the visitor is a baresip registered there under its number.

The carrier authenticates the trunk with a digest challenge, as a SIP carrier does, and
passes the company's caller ID to the visitor's phone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asterisk_conf.instance import AsteriskInstance
from tests.harness.asterisk import RawAmi
from tests.harness.carrier import (
    COMPANY_CALLER_ID,
    CarrierInstance,
    start_asterisk_with_trunk,
    start_carrier,
)

VISITOR = "4930123456"
SILENT = "4930999999"

pytestmark = pytest.mark.asterisk


@pytest.fixture(scope="module")
async def carrier(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CarrierInstance]:
    instance = await start_carrier(tmp_path_factory.mktemp("carrier"), (VISITOR, SILENT))
    yield instance
    await instance.stop()


@pytest.fixture(scope="module")
async def pbx(
    tmp_path_factory: pytest.TempPathFactory, carrier: CarrierInstance
) -> AsyncIterator[AsteriskInstance]:
    instance = await start_asterisk_with_trunk(tmp_path_factory.mktemp("pbx"), carrier)
    yield instance
    await instance.stop()


async def _originate(ami: RawAmi, number: str, **variables: str) -> dict[str, str]:
    variable = ",".join(f"{k}={v}" for k, v in variables.items())
    response = await ami.send(
        {
            "Action": "Originate",
            "Channel": f"Local/{number}@outbound",
            "Context": "caller-robot",
            "Exten": "s",
            "Priority": "1",
            "Async": "true",
            "Timeout": "30000",
            **({"Variable": variable} if variable else {}),
        }
    )
    assert response["Response"] == "Success", response
    return await ami.wait_event("OriginateResponse", timeout_s=30)


async def test_an_outside_number_rings_the_visitor_with_the_company_caller_id(
    carrier: CarrierInstance, pbx: AsteriskInstance, tmp_path: Path
) -> None:
    phone = carrier.visitor_phone(tmp_path / "visitor", VISITOR, answer_mode="auto")
    await phone.start()
    ami = await RawAmi.connect(pbx)
    try:
        result = await _originate(ami, f"+{VISITOR}", ROBOT_HOLD="1")
        assert result["Response"] == "Success", result
        established = await phone.wait_for("CALL_ESTABLISHED", timeout_s=10)
        assert established.peer_uri is not None
        assert f"sip:{COMPANY_CALLER_ID}@" in established.peer_uri
        await phone.wait_for("CALL_CLOSED", timeout_s=15)
    finally:
        await ami.close()
        await phone.stop()


async def test_a_visitor_who_does_not_answer_is_a_failed_originate(
    carrier: CarrierInstance, pbx: AsteriskInstance, tmp_path: Path
) -> None:
    phone = carrier.visitor_phone(tmp_path / "silent", SILENT, answer_mode="manual")
    await phone.start()
    ami = await RawAmi.connect(pbx)
    try:
        result = await _originate(ami, SILENT, OUTBOUND_RING="2")
        await phone.wait_for("CALL_INCOMING", timeout_s=10)
        # Reason 3: "ringing, no answer" — the carrier's 480 comes back as no answer.
        assert result["Response"] == "Failure"
        await phone.wait_for("CALL_CLOSED", timeout_s=10)
    finally:
        await ami.close()
        await phone.stop()


async def test_an_unknown_number_is_refused_by_the_carrier(pbx: AsteriskInstance) -> None:
    ami = await RawAmi.connect(pbx)
    try:
        result = await _originate(ami, "4930000000")
        assert result["Response"] == "Failure"
    finally:
        await ami.close()
