"""The outbound trunk in the rendered configuration (pure), and from ``[trunk]``."""

from __future__ import annotations

import pytest

from asterisk_conf.render import OutboundTrunk, SipAccount, render_config
from server.config import load_config
from server.stack import debian_layout, outbound_trunk
from tests.test_asterisk_conf_render import make_settings, options


def test_without_a_trunk_the_outbound_context_refuses_and_no_endpoint_is_rendered() -> None:
    files = render_config(make_settings())
    assert "[trunk]" not in files["pjsip.conf"]
    assert options(files["extensions.conf"], "globals")["TRUNK"] == ""
    assert "[outbound]" in files["extensions.conf"]


def test_a_trunk_with_credentials_renders_endpoint_auth_aor_and_caller_id() -> None:
    trunk = OutboundTrunk(
        "sip.carrier.example", 5080, "74951234567", "Acme", "+", "acme", "pw-1", 30
    )
    files = render_config(make_settings(trunk=trunk))
    pjsip = files["pjsip.conf"]
    assert "[trunk](agent-endpoint)" in pjsip
    assert "outbound_auth = trunk-auth" in pjsip
    assert "contact = sip:sip.carrier.example:5080" in pjsip
    assert "password = pw-1" in pjsip
    assert "context = trunk-refuse" in pjsip
    glob = options(files["extensions.conf"], "globals")
    assert glob["TRUNK"] == "trunk"
    assert glob["TRUNK_PREFIX"] == "+"
    assert glob["TRUNK_CALLERID_NUM"] == "74951234567"
    assert glob["TRUNK_CALLERID_NAME"] == "Acme"
    assert glob["TRUNK_RING"] == "30"


def test_a_trunk_that_trusts_our_address_has_no_auth() -> None:
    files = render_config(make_settings(trunk=OutboundTrunk("10.0.0.1")))
    assert "outbound_auth" not in files["pjsip.conf"]


@pytest.mark.parametrize(
    "changes",
    [
        {"host": "evil.example\n[x]"},
        {"caller_id_number": "12;34"},
        {"caller_id_name": "A]ttack"},
        {"dial_prefix": "9#"},
        {"username": "u", "secret": "with space"},
        {"ring_timeout_s": 1},
    ],
)
def test_values_that_could_break_the_configuration_are_refused(changes: dict) -> None:
    values = {"host": "10.0.0.1", **changes}
    with pytest.raises(ValueError):
        OutboundTrunk(**values)


def test_an_agent_account_may_not_take_the_trunk_name() -> None:
    with pytest.raises(ValueError, match="trunk"):
        make_settings(accounts=(SipAccount("trunk", "pw"),))


def test_the_trunk_section_of_the_configuration_reaches_the_dialplan() -> None:
    config = load_config(
        environ={
            "SWITCHBOARD_TRUNK__HOST": "10.1.2.3",
            "SWITCHBOARD_TRUNK__CALLER_ID_NUMBER": "15550100",
            "SWITCHBOARD_TRUNK__SECRET": "s",
            "SWITCHBOARD_TRUNK__USERNAME": "u",
        }
    )
    trunk = outbound_trunk(config)
    assert trunk is not None and trunk.host == "10.1.2.3" and trunk.secret == "s"
    assert outbound_trunk(load_config(environ={})) is None
    assert debian_layout().etc.name == "asterisk"
