"""The phone network for tests: a second, independent Asterisk playing the carrier.

Switchboard's Asterisk reaches outside numbers through its PJSIP trunk; in tests the
trunk points at this carrier. Visitors are baresip softphones registered to the
carrier under their phone numbers (E.164 digits without "+"), so a call to
``+49301234567`` leaves Switchboard's Asterisk on the trunk, is challenged and
authenticated by the carrier like a real SIP trunk (source address and digest, user
``switchboard``),
and rings the baresip registered as ``49301234567`` with the company's caller ID.
The carrier hands the visitor's verdict back the way a carrier does: 486 busy, 480
no answer, 503 for anything else.

Visitors' phones listen on 127.0.0.2 (:data:`VISITOR_HOST`), Switchboard's Asterisk
on 127.0.0.1: the carrier tells the trunk from the visitors by source address, as a
carrier does, and still challenges every INVITE of the trunk for its digest.

Usage::

    carrier = await start_carrier(tmp / "carrier", visitors=("49301234567",))
    asterisk = await start_asterisk_with_trunk(tmp / "pbx", carrier, accounts, agi_port=...)
    phone = carrier.visitor_phone(tmp / "v1", "49301234567")
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Iterable
from pathlib import Path

from asterisk_conf.instance import AsteriskInstance
from asterisk_conf.render import OutboundTrunk, SipAccount, write_accounts, write_config
from tests.harness.asterisk import RawAmi, installation_for_tests, reload_accounts
from tests.harness.asterisk import settings_for_tests as _settings_for_tests
from tests.harness.softphone import AnswerMode, Softphone

TRUNK_USER = "switchboard"
# What the carrier shows the visitor unless a test says otherwise.
COMPANY_CALLER_ID = "15550100"
COMPANY_NAME = "Switchboard Demo"
# The whole of 127.0.0.0/8 is loopback: a second address keeps the visitors apart
# from Switchboard's Asterisk.
VISITOR_HOST = "127.0.0.2"

_PJSIP = """; The carrier (test harness).
[global]
type = global
user_agent = Test Carrier
endpoint_identifier_order = ip,username

[transport-udp]
type = transport
protocol = udp
bind = {bind}:{port}

[agent-endpoint](!)
type = endpoint
transport = transport-udp
disallow = all
allow = ulaw,alaw,gsm
direct_media = no
rtp_symmetric = yes
force_rport = yes
rewrite_contact = yes
media_address = {bind}
bind_rtp_to_media_address = yes
dtmf_mode = rfc4733

[agent-aor](!)
type = aor
max_contacts = 1
remove_existing = yes

[{trunk_user}](agent-endpoint)
context = carrier
auth = {trunk_user}-auth

[{trunk_user}-auth]
type = auth
auth_type = userpass
username = {trunk_user}
password = {trunk_secret}

[{trunk_user}-identify]
type = identify
endpoint = {trunk_user}
match = {bind}

#include pjsip_accounts.conf
"""

_EXTENSIONS = """; The carrier (test harness): rings the visitor registered under the number.
[general]
static = yes
writeprotect = yes

[carrier]
exten => _X.,1,Dial(PJSIP/${EXTEN},120)
 same => n,Goto(carrier-end,${DIALSTATUS},1)

[carrier-end]
exten => ANSWER,1,Hangup()
exten => BUSY,1,Busy(1)
 same => n,Hangup(17)
exten => NOANSWER,1,Hangup(19)
exten => _[A-Z].,1,Congestion(1)
 same => n,Hangup(34)

; Nothing registered reaches Switchboard's agents through here.
[visitors]
"""


class CarrierInstance(AsteriskInstance):
    """An Asterisk whose pjsip.conf and extensions.conf are the carrier's."""

    def __init__(self, *args: object, trunk_secret: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.trunk_secret = trunk_secret
        self.visitors: dict[str, str] = {}

    async def start(self, boot_timeout_s: float = 60.0) -> None:
        for path in self.layout.writable_dirs():
            path.mkdir(parents=True, exist_ok=True)
        write_config(self.settings, self.etc_dir)
        settings = self.settings
        (self.etc_dir / "pjsip.conf").write_text(
            _PJSIP.format(
                bind=settings.bind_address,
                port=settings.sip_port,
                trunk_user=TRUNK_USER,
                trunk_secret=self.trunk_secret,
            )
        )
        (self.etc_dir / "extensions.conf").write_text(_EXTENSIONS)
        with (self.etc_dir / "modules.conf").open("a") as modules:
            modules.write("load => res_pjsip_endpoint_identifier_ip.so\n")
        write_accounts(self._accounts(), self.etc_dir)
        await self._launch(boot_timeout_s)

    def trunk(
        self, *, caller_id: str = COMPANY_CALLER_ID, name: str = COMPANY_NAME, prefix: str = ""
    ) -> OutboundTrunk:
        """Switchboard's trunk to this carrier."""
        return OutboundTrunk(
            host=self.settings.bind_address,
            port=self.settings.sip_port,
            caller_id_number=caller_id,
            caller_id_name=name,
            dial_prefix=prefix,
            username=TRUNK_USER,
            secret=self.trunk_secret,
            ring_timeout_s=45,
        )

    async def add_visitors(self, numbers: Iterable[str]) -> None:
        """Accounts for more visitors' phones, live at once (no restart)."""
        for number in numbers:
            self.visitors.setdefault(number, f"v-{secrets.token_hex(6)}")
        ami = await RawAmi.connect(self, events="off")
        try:
            await reload_accounts(self, ami, self._accounts())
        finally:
            await ami.close()

    def visitor_phone(
        self, workdir: Path, number: str, *, answer_mode: AnswerMode = "manual", **kwargs: object
    ) -> Softphone:
        """A (not yet started) baresip for a visitor added before."""
        return Softphone(
            workdir,
            number,
            self.visitors[number],
            (self.settings.bind_address, self.settings.sip_port),
            answer_mode=answer_mode,
            host=VISITOR_HOST,
            **kwargs,  # type: ignore[arg-type]
        )

    def _accounts(self) -> tuple[SipAccount, ...]:
        return tuple(SipAccount(n, pw, context="visitors") for n, pw in self.visitors.items())


async def start_carrier(instance_dir: Path, visitors: Iterable[str] = ()) -> CarrierInstance:
    """A started carrier with accounts for ``visitors``; the caller stops it."""
    install = await asyncio.to_thread(installation_for_tests)
    settings = _settings_for_tests(install, instance_dir)
    carrier = CarrierInstance(
        install, instance_dir, settings, trunk_secret=secrets.token_urlsafe(12)
    )
    carrier.visitors.update({n: f"v-{secrets.token_hex(6)}" for n in visitors})
    await carrier.start()
    return carrier


async def start_asterisk_with_trunk(
    instance_dir: Path,
    carrier: CarrierInstance,
    accounts: Iterable[SipAccount] = (),
    *,
    agi_port: int | None = None,
    trunk: OutboundTrunk | None = None,
) -> AsteriskInstance:
    """Switchboard's test Asterisk (as ``start_test_asterisk``) with its trunk to
    ``carrier``; the caller stops it."""
    install = await asyncio.to_thread(installation_for_tests)
    settings = dataclasses.replace(
        _settings_for_tests(install, instance_dir, accounts, agi_port=agi_port),
        trunk=trunk or carrier.trunk(),
    )
    instance = AsteriskInstance(install, instance_dir, settings)
    await instance.start()
    return instance
