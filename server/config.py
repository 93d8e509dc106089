"""One typed configuration object, loaded from a TOML file and the environment.

Precedence: defaults < TOML file < environment variables. An environment variable
``SWITCHBOARD_<SECTION>__<KEY>`` overrides ``[section] key`` (e.g.
``SWITCHBOARD_AMI__PORT=5039``); ``DATABASE_URL`` is honoured as the usual shorthand
for ``[database] url``. Invalid configuration raises :class:`ConfigError` naming the
bad key, before anything is started.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from callback.config import CallbackConfig
from crm_connectors.config import CustomersConfig
from ivr.config import IvrConfig
from recording.config import RecordingConfig
from routing.config import RoutingConfig
from text_channels.config import TextChannelsConfig
from workspace.config import WorkspaceConfig

ENV_PREFIX = "SWITCHBOARD_"


class ConfigError(ValueError):
    """Configuration that cannot be used; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    data_dir: Path = Path("data")
    # Signs session cookies and CSRF tokens. Generated and stored in data_dir when empty.
    secret_key: SecretStr = SecretStr("")
    public_url: str = ""


class DatabaseConfig(_Section):
    # Empty: an embedded PostgreSQL (pgserver) in <data_dir>/postgres.
    url: SecretStr = SecretStr("")
    pool_min: int = Field(1, ge=0)
    pool_max: int = Field(10, ge=1)


class AmiConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str = "switchboard"
    secret: SecretStr = SecretStr("")
    connect_timeout_s: float = Field(5.0, gt=0)
    # A ping every ping_interval_s; no answer within ping_timeout_s → connection is down.
    ping_interval_s: float = Field(5.0, gt=0)
    ping_timeout_s: float = Field(3.0, gt=0)
    reconnect_min_s: float = Field(0.2, gt=0)
    reconnect_max_s: float = Field(10.0, gt=0)
    action_timeout_s: float = Field(10.0, gt=0)


class AgiConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(4573, ge=0, le=65535)
    # The address Asterisk uses to reach the AGI server (in the dialplan).
    advertised_host: str = "127.0.0.1"


class AsteriskConfig(_Section):
    # external: use the AMI in [ami] as is; system: run the host's `asterisk` binary;
    # provisioned: run Debian sid's asterisk from a cached root file system;
    # auto: external if [ami] secret is set, else system if installed, else provisioned.
    mode: Literal["auto", "external", "system", "provisioned"] = "auto"
    cache_dir: Path = Path("~/.cache/switchboard").expanduser()
    sip_port: int = Field(5060, ge=0, le=65535)
    rtp_start: int = Field(10000, ge=1024, le=65535)
    rtp_end: int = Field(10100, ge=1024, le=65535)
    http_port: int = Field(8088, ge=0, le=65535)
    bind_address: str = "127.0.0.1"
    # The number callers dial; the demo routes it to the IVR.
    inbound_number: str = "500"
    start_timeout_s: float = Field(60.0, gt=0)
    # The Asterisk configuration directory where the server writes agents' PJSIP
    # accounts (files that pjsip.conf and queues.conf include) before asking Asterisk
    # to reload them. Empty: accounts are kept in the database only (an external
    # Asterisk configured by someone else).
    etc_dir: Path | None = None

    @field_validator("cache_dir", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _rtp_range(self) -> AsteriskConfig:
        if self.rtp_end <= self.rtp_start:
            raise ValueError("rtp_end must be greater than rtp_start")
        return self


class TrunkConfig(_Section):
    """The carrier outside numbers are dialled through (``[outbound]`` in the dialplan:
    callbacks, transfers). An empty host: no trunk, outside numbers are refused."""

    host: str = ""
    port: int = Field(5060, ge=1, le=65535)
    # Digest credentials the carrier asks for (empty: it trusts our address).
    username: str = ""
    secret: SecretStr = SecretStr("")
    # The company's number and name shown to the people we call.
    caller_id_number: str = Field("", pattern=r"^(\+?[0-9]{1,32})?$")
    caller_id_name: str = ""
    # Put before the E.164 digits (without "+"): "+" or "00" if the carrier wants them.
    dial_prefix: str = Field("", pattern=r"^\+?[0-9]{0,15}$")
    ring_timeout_s: int = Field(45, ge=5, le=300)


class AuthConfig(_Section):
    session_max_age_s: int = Field(12 * 3600, gt=0)
    cookie_secure: bool = False
    login_max_failures: int = Field(5, ge=1)
    login_window_s: int = Field(300, gt=0)


class TimersConfig(_Section):
    """Every wait a test would otherwise sit out, so tests can run in seconds."""

    ring_timeout_s: float = Field(20.0, gt=0)
    offer_timeout_s: float = Field(20.0, gt=0)
    wrapup_s: float = Field(15.0, ge=0)
    announce_period_s: float = Field(30.0, gt=0)
    callback_retry_interval_s: float = Field(120.0, gt=0)
    callback_max_attempts: int = Field(3, ge=1)
    offer_sweep_interval_s: float = Field(1.0, gt=0)


class DemoConfig(_Section):
    # `switchboard up` creates these accounts when they do not exist yet.
    enabled: bool = True
    admin_username: str = "admin"
    admin_password: SecretStr = SecretStr("")
    agents: tuple[str, ...] = ("1001", "1002")


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_lines: bool = True


class Config(_Section):
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    ami: AmiConfig = AmiConfig()
    agi: AgiConfig = AgiConfig()
    asterisk: AsteriskConfig = AsteriskConfig()
    trunk: TrunkConfig = TrunkConfig()
    auth: AuthConfig = AuthConfig()
    timers: TimersConfig = TimersConfig()
    demo: DemoConfig = DemoConfig()
    logging: LoggingConfig = LoggingConfig()
    recording: RecordingConfig = RecordingConfig()
    ivr: IvrConfig = IvrConfig()
    routing: RoutingConfig = RoutingConfig()
    customers: CustomersConfig = CustomersConfig()
    text_channels: TextChannelsConfig = TextChannelsConfig()
    workspace: WorkspaceConfig = WorkspaceConfig()
    callback: CallbackConfig = CallbackConfig()

    def replace(self, **sections: dict[str, Any]) -> Config:
        """A copy with some keys of some sections changed (validated again)."""
        data = self.model_dump()
        for name, values in sections.items():
            data[name] = {**data[name], **values}
        return _validate(data, source="override")


def _secret_values(data: Any) -> Any:
    if isinstance(data, SecretStr):
        return data.get_secret_value()
    if isinstance(data, dict):
        return {k: _secret_values(v) for k, v in data.items()}
    return data


def _validate(data: dict[str, Any], source: str) -> Config:
    try:
        return Config.model_validate(_secret_values(data))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            problems.append(f"{key}: {err['msg']}")
        raise ConfigError(f"invalid configuration ({source}): " + "; ".join(problems)) from None


def env_overrides(environ: dict[str, str]) -> dict[str, dict[str, str]]:
    """``SWITCHBOARD_SECTION__KEY=value`` → ``{"section": {"key": "value"}}``."""
    out: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].partition("__")
        out.setdefault(section.lower(), {})[key.lower()] = value
    if environ.get("DATABASE_URL") and "url" not in out.get("database", {}):
        out.setdefault("database", {})["url"] = environ["DATABASE_URL"]
    return out


def load_config(path: Path | str | None = None, environ: dict[str, str] | None = None) -> Config:
    """Load the TOML file (if any) and apply environment overrides."""
    environ = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    source = "defaults"
    if path is None and environ.get(ENV_PREFIX + "CONFIG"):
        path = environ[ENV_PREFIX + "CONFIG"]
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"configuration file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None
        source = str(path)
    for section, values in env_overrides(environ).items():
        current = data.setdefault(section, {})
        if not isinstance(current, dict):
            raise ConfigError(f"invalid configuration ({source}): {section}: must be a table")
        current.update(values)
    return _validate(data, source)
