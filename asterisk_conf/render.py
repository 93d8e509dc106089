"""Asterisk configuration for one deployment or one test instance, rendered from settings.

Rendering is pure (:func:`render_config`, :func:`render_accounts`); the ``write_*``
functions only put the result on disk. Every value that reaches a configuration file
is validated first: a name, secret or address can never open a new section, start a
comment or include a file.

Agents' SIP accounts are a separate pair of files, rewritten while Asterisk runs:
``pjsip_accounts.conf`` (included by ``pjsip.conf``) and
``queue_fallback_members.conf`` (included in the ``fallback-all`` queue). After
:func:`write_accounts`, make them live without a restart with the two AMI actions in
:data:`ACCOUNTS_RELOAD_ACTIONS`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import string
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

ACCOUNTS_FILE = "pjsip_accounts.conf"
QUEUE_MEMBERS_FILE = "queue_fallback_members.conf"
# Mailbox (in voicemail context "default") that takes messages when the server is down.
FALLBACK_MAILBOX = "9000"
# Seconds between OPTIONS pings to each registered softphone: a phone that vanishes
# without unregistering is seen as Unreachable within this time.
QUALIFY_FREQUENCY_S = 10

# Verified on Asterisk 22.10: each answers "Response: Success / Message: Module
# Reloaded." — endpoints, auths and aors added, changed or removed in the accounts file
# are live at once (a phone can register with a new account right after it), calls in
# progress are not touched. Transport changes (bind address, SIP port) need a restart.
ACCOUNTS_RELOAD_ACTIONS: tuple[Mapping[str, str], ...] = (
    {"Action": "Reload", "Module": "res_pjsip.so"},
    {"Action": "Reload", "Module": "app_queue.so"},
)

# The files render_config produces, each from templates/<name>.tmpl.
CONFIG_FILES = (
    "asterisk.conf",
    "modules.conf",
    "manager.conf",
    "pjsip.conf",
    "rtp.conf",
    "musiconhold.conf",
    "logger.conf",
    "extensions.conf",
    "features.conf",
    "queues.conf",
    "voicemail.conf",
    "http.conf",
    "cdr.conf",
    "cel.conf",
    "indications.conf",
)

# Files modules read at start-up and complain about when missing; their defaults suit us.
DEFAULTED_FILES = (
    "acl.conf",
    "ccss.conf",
    "geolocation.conf",
    "pjproject.conf",
    "stasis.conf",
    "udptl.conf",
)

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_CONTEXT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Printable ASCII without whitespace or anything Asterisk's config parser treats
# specially (";" comment, "[" section, "#" directive, quotes, backslash escapes).
_SECRET = re.compile(r"^[A-Za-z0-9!$%&()*+,./:<=>?@^_{|}~-]{1,128}$")
_CALLER_NAME_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f;\[\]"<>\\#]')
_NUMBER = re.compile(r"^\+?[0-9]{1,32}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$")
_PATH_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f;\[\]#]")
_DIAL_PREFIX = re.compile(r"^\+?[0-9]{0,15}$")
# The PJSIP endpoint and aor of the outbound trunk. The workspace's click-to-call
# template (``PJSIP/{digits}@trunk``) names it, so an agent account may not.
TRUNK_NAME = "trunk"


class _Template(string.Template):
    # "$" and "{}" belong to the dialplan; "@@" is nowhere in Asterisk's syntax.
    delimiter = "@@"


def _check_name(what: str, value: str) -> None:
    if not _NAME.match(value):
        raise ValueError(f"{what} must be 1-64 of A-Z a-z 0-9 _ . - : {value!r}")


def _check_secret(what: str, value: str) -> None:
    if not _SECRET.match(value):
        raise ValueError(
            f"{what} must be 1-128 printable ASCII characters without spaces, "
            "quotes, backslash, ';', '#', '[' or ']'"
        )


def _check_port(what: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"{what} must be a port number 1-65535: {value!r}")


def _check_path(what: str, value: Path) -> None:
    if not value.is_absolute() or _PATH_FORBIDDEN.search(str(value)):
        raise ValueError(f"{what} must be an absolute path without ; # [ ] or controls: {value}")


@dataclass(frozen=True)
class SipAccount:
    """One agent's softphone account: the SIP user name is also the extension dialled."""

    name: str
    secret: str = field(repr=False)
    context: str = "agents"
    caller_name: str = ""

    def __post_init__(self) -> None:
        _check_name("SIP account name", self.name)
        _check_secret(f"secret of SIP account {self.name}", self.secret)
        if not _CONTEXT.match(self.context):
            raise ValueError(f"dialplan context must be 1-64 of A-Z a-z 0-9 _ -: {self.context!r}")
        if len(self.caller_name) > 64 or _CALLER_NAME_FORBIDDEN.search(self.caller_name):
            raise ValueError(
                f"caller name of SIP account {self.name} must be at most 64 characters "
                "without control characters, quotes, backslash, ; # [ ] < >"
            )


@dataclass(frozen=True)
class OutboundTrunk:
    """The carrier the ``[outbound]`` context dials outside numbers through.

    Numbers reach the carrier as ``dial_prefix`` + the E.164 digits without the "+"
    (a carrier that wants "+" or "00" gets it from the prefix). Calls leave with the
    company's caller ID. With ``username`` set, Asterisk answers the carrier's digest
    challenge with it.
    """

    host: str
    port: int = 5060
    caller_id_number: str = ""
    caller_id_name: str = ""
    dial_prefix: str = ""
    username: str = ""
    secret: str = field(default="", repr=False)
    ring_timeout_s: int = 45

    def __post_init__(self) -> None:
        if not _HOST.match(self.host):
            raise ValueError(f"trunk host must be a host name or IPv4 address: {self.host!r}")
        _check_port("trunk port", self.port)
        if self.caller_id_number and not _NUMBER.match(self.caller_id_number):
            raise ValueError(f"trunk caller ID must be digits: {self.caller_id_number!r}")
        if len(self.caller_id_name) > 64 or _CALLER_NAME_FORBIDDEN.search(self.caller_id_name):
            raise ValueError(
                "trunk caller name must be at most 64 characters without control "
                "characters, quotes, backslash, ; # [ ] < >"
            )
        if not _DIAL_PREFIX.match(self.dial_prefix):
            raise ValueError(f"trunk dial prefix must be digits, '+' first: {self.dial_prefix!r}")
        if self.username:
            _check_name("trunk user name", self.username)
            _check_secret("trunk secret", self.secret)
        if not 5 <= self.ring_timeout_s <= 300:
            raise ValueError("trunk ring_timeout_s must be 5-300 seconds")


@dataclass(frozen=True)
class InstanceLayout:
    """Directories of one Asterisk instance, as Asterisk sees them."""

    etc: Path
    run: Path
    lib: Path
    db: Path
    spool: Path
    log: Path
    data_dir: Path
    modules_dir: Path

    def __post_init__(self) -> None:
        for name in ("etc", "run", "lib", "db", "spool", "log", "data_dir", "modules_dir"):
            _check_path(name, getattr(self, name))

    @classmethod
    def under(cls, instance_dir: Path, *, data_dir: Path, modules_dir: Path) -> InstanceLayout:
        """The usual layout: etc, run, lib, db, spool, log in one instance directory."""
        return cls(
            etc=instance_dir / "etc",
            run=instance_dir / "run",
            lib=instance_dir / "lib",
            db=instance_dir / "db",
            spool=instance_dir / "spool",
            log=instance_dir / "log",
            data_dir=data_dir,
            modules_dir=modules_dir,
        )

    def writable_dirs(self) -> tuple[Path, ...]:
        return (self.etc, self.run, self.lib, self.lib / "cache", self.db, self.spool, self.log)


@dataclass(frozen=True)
class AsteriskSettings:
    """Everything that differs between two Asterisk instances (IPv4 only)."""

    bind_address: str
    sip_port: int
    rtp_start: int
    rtp_end: int
    http_port: int
    ami_port: int
    ami_username: str
    ami_secret: str = field(repr=False)
    agi_host: str
    agi_port: int
    inbound_number: str
    layout: InstanceLayout
    accounts: tuple[SipAccount, ...] = ()
    # Who may log in to AMI (address/mask); the bind address alone by default.
    ami_permit: str = ""
    http_enabled: bool = False
    ring_timeout_s: int = 20
    tone_zone: str = "us"
    # None: no carrier; the [outbound] context refuses every number (congestion).
    trunk: OutboundTrunk | None = None

    def __post_init__(self) -> None:
        try:
            ipaddress.IPv4Address(self.bind_address)
        except ValueError:
            raise ValueError(
                f"bind_address must be an IPv4 address: {self.bind_address!r}"
            ) from None
        for name in ("sip_port", "rtp_start", "rtp_end", "http_port", "ami_port", "agi_port"):
            _check_port(name, getattr(self, name))
        if self.rtp_end <= self.rtp_start:
            raise ValueError("rtp_end must be greater than rtp_start")
        if self.ami_port == self.http_port:
            raise ValueError(f"ami_port and http_port are the same port: {self.ami_port}")
        if self.rtp_start <= self.sip_port <= self.rtp_end:
            raise ValueError("sip_port is inside the RTP range")
        _check_name("AMI user name", self.ami_username)
        _check_secret("AMI secret", self.ami_secret)
        if not _HOST.match(self.agi_host):
            raise ValueError(f"agi_host must be a host name or IPv4 address: {self.agi_host!r}")
        if not _NUMBER.match(self.inbound_number):
            raise ValueError(f"inbound_number must be digits: {self.inbound_number!r}")
        if not self.ami_permit and self.bind_address == "0.0.0.0":
            raise ValueError("ami_permit must be set when bind_address is 0.0.0.0")
        if self.ami_permit:
            try:
                ipaddress.IPv4Network(self.ami_permit, strict=False)
            except ValueError:
                raise ValueError(
                    f"ami_permit must be an IPv4 network: {self.ami_permit!r}"
                ) from None
        if not 1 <= self.ring_timeout_s <= 600:
            raise ValueError("ring_timeout_s must be 1-600 seconds")
        if self.tone_zone not in ("us", "ru"):
            raise ValueError(f"tone_zone must be us or ru: {self.tone_zone!r}")
        if self.trunk is not None and not isinstance(self.trunk, OutboundTrunk):
            raise ValueError(f"not an OutboundTrunk: {self.trunk!r}")
        _check_unique_accounts(self.accounts)


def _check_unique_accounts(accounts: Iterable[SipAccount]) -> None:
    seen: set[str] = set()
    for account in accounts:
        if not isinstance(account, SipAccount):
            raise ValueError(f"not a SipAccount: {account!r}")
        if account.name in seen:
            raise ValueError(f"two SIP accounts are named {account.name}")
        if account.name == TRUNK_NAME:
            raise ValueError(f"a SIP account may not be named {TRUNK_NAME}: the outbound trunk is")
        seen.add(account.name)


def _template(name: str) -> _Template:
    return _Template(resources.files(__package__).joinpath("templates", name).read_text("utf-8"))


def _permit(settings: AsteriskSettings) -> str:
    network = ipaddress.IPv4Network(settings.ami_permit or settings.bind_address, strict=False)
    return f"{network.network_address}/{network.netmask}"


def render_trunk(trunk: OutboundTrunk | None) -> str:
    """The trunk's PJSIP sections (``pjsip.conf``), or a comment when there is none."""
    if trunk is None:
        return "; No outbound trunk configured: [outbound] refuses every number.\n"
    parts = [
        "; The carrier for outside numbers ([outbound] in extensions.conf). Calls from it\n"
        "; are not expected: it has no context of its own but the refusing one.\n"
        f"[{TRUNK_NAME}](agent-endpoint)\n"
        "context = trunk-refuse\n"
        f"aors = {TRUNK_NAME}\n"
        "send_rpid = yes\n"
    ]
    if trunk.username:
        parts.append(
            f"outbound_auth = {TRUNK_NAME}-auth\n"
            f"\n[{TRUNK_NAME}-auth]\n"
            "type = auth\n"
            "auth_type = userpass\n"
            f"username = {trunk.username}\n"
            f"password = {trunk.secret}\n"
        )
    parts.append(f"\n[{TRUNK_NAME}]\ntype = aor\ncontact = sip:{trunk.host}:{trunk.port}\n")
    return "".join(parts)


def _trunk_globals(trunk: OutboundTrunk | None) -> dict[str, object]:
    if trunk is None:
        return {
            "trunk_endpoint": "",
            "trunk_prefix": "",
            "trunk_callerid_num": "",
            "trunk_callerid_name": "",
            "trunk_ring": 45,
        }
    return {
        "trunk_endpoint": TRUNK_NAME,
        "trunk_prefix": trunk.dial_prefix,
        "trunk_callerid_num": trunk.caller_id_number,
        "trunk_callerid_name": trunk.caller_id_name,
        "trunk_ring": trunk.ring_timeout_s,
    }


def render_config(settings: AsteriskSettings) -> dict[str, str]:
    """Every configuration file of the instance, file name → text."""
    layout = settings.layout
    values = {
        "etc": layout.etc,
        "run": layout.run,
        "lib": layout.lib,
        "db": layout.db,
        "spool": layout.spool,
        "log": layout.log,
        "data_dir": layout.data_dir,
        "modules_dir": layout.modules_dir,
        "bind_address": settings.bind_address,
        "sip_port": settings.sip_port,
        "rtp_start": settings.rtp_start,
        "rtp_end": settings.rtp_end,
        "http_port": settings.http_port,
        "http_enabled": "yes" if settings.http_enabled else "no",
        "ami_port": settings.ami_port,
        "ami_username": settings.ami_username,
        "ami_secret": settings.ami_secret,
        "ami_permit": _permit(settings),
        "agi_host": settings.agi_host,
        "agi_port": settings.agi_port,
        "inbound_number": settings.inbound_number,
        "ring_timeout": settings.ring_timeout_s,
        "fallback_mailbox": FALLBACK_MAILBOX,
        "qualify_frequency": QUALIFY_FREQUENCY_S,
        "tone_zone": settings.tone_zone,
        "trunk_sections": render_trunk(settings.trunk),
        **_trunk_globals(settings.trunk),
    }
    files = {name: _template(f"{name}.tmpl").substitute(values) for name in CONFIG_FILES}
    files.update({name: "; Rendered by Switchboard: defaults.\n" for name in DEFAULTED_FILES})
    files.update(render_account_files(settings.accounts))
    return files


def render_accounts(accounts: Iterable[SipAccount]) -> str:
    """``pjsip_accounts.conf``: an endpoint, auth and aor per account.

    Endpoints and aors inherit the ``agent-endpoint`` / ``agent-aor`` templates of
    ``pjsip.conf`` (codecs, media address, one contact per account, qualify).
    """
    accounts = tuple(accounts)
    _check_unique_accounts(accounts)
    parts = ["; Rendered by Switchboard from the agents' accounts; rewritten at run time.\n"]
    for a in accounts:
        callerid = f'"{a.caller_name}" <{a.name}>' if a.caller_name else f"<{a.name}>"
        parts.append(
            f"\n[{a.name}](agent-endpoint)\n"
            f"context = {a.context}\n"
            f"auth = {a.name}-auth\n"
            f"aors = {a.name}\n"
            f"callerid = {callerid}\n"
            f"\n[{a.name}-auth]\n"
            "type = auth\n"
            "auth_type = userpass\n"
            f"username = {a.name}\n"
            f"password = {a.secret}\n"
            f"\n[{a.name}](agent-aor)\n"
        )
    return "".join(parts)


def render_queue_members(accounts: Iterable[SipAccount]) -> str:
    """``queue_fallback_members.conf``: every account is a member of ``fallback-all``."""
    lines = ["; Rendered by Switchboard: members of the fallback-all queue.\n"]
    lines += [f"member => PJSIP/{a.name},0,{a.name},PJSIP/{a.name}\n" for a in accounts]
    return "".join(lines)


def render_account_files(accounts: Iterable[SipAccount]) -> dict[str, str]:
    accounts = tuple(accounts)
    return {
        ACCOUNTS_FILE: render_accounts(accounts),
        QUEUE_MEMBERS_FILE: render_queue_members(accounts),
    }


def write_config(settings: AsteriskSettings, etc_dir: Path) -> None:
    """Render every file into ``etc_dir`` (created if missing)."""
    etc_dir.mkdir(parents=True, exist_ok=True)
    for name, text in render_config(settings).items():
        _write_atomically(etc_dir / name, text)


def write_accounts(accounts: Iterable[SipAccount], etc_dir: Path) -> None:
    """Rewrite the account files; Asterisk never reads a half-written one.

    Then send :data:`ACCOUNTS_RELOAD_ACTIONS` over AMI.
    """
    for name, text in render_account_files(accounts).items():
        _write_atomically(etc_dir / name, text)


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
