"""Configuration of the IVR (``[ivr]`` in the TOML file).

Standalone on purpose: ``server.config`` hangs this model under ``Config.ivr``, so this
module must not import ``server``. The rings and waits shared with routing
(ring_timeout_s, announce_period_s) live in ``[timers]``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class SmtpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Empty host: voicemail notifications are not sent (the message is kept all the same).
    host: str = ""
    port: int = Field(25, ge=1, le=65535)
    username: str = ""
    password: SecretStr = SecretStr("")
    starttls: bool = False
    sender: str = "switchboard@localhost"
    timeout_s: float = Field(10.0, gt=0)


class IvrConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # A directory Asterisk and the server see at the same path: converted prompts are
    # played from it and voicemail is recorded into it. For a chrooted Asterisk it must
    # be inside the instance directory. Empty: <data_dir>/asterisk/spool/ivr, which is
    # where `switchboard up` puts its Asterisk.
    spool_dir: Path | None = None
    # Where voicemail messages are kept. Empty: <data_dir>/voicemail.
    voicemail_dir: Path | None = None
    # The longest voicemail message, and the silence that ends one early.
    voicemail_max_s: float = Field(120.0, gt=0, le=3600)
    voicemail_silence_s: int = Field(5, ge=1, le=60)
    # How the dialplan reaches an external number (forwarding, overflow): {number} is
    # the E.164 number, {digits} the same without "+".
    external_dial: str = Field("PJSIP/{digits}@trunk", min_length=1)
    # Seconds an external number rings before the caller goes on (to voicemail).
    forward_ring_s: float = Field(20.0, gt=0, le=600)
    # A phone that failed at once (busy, unregistered) is not rung again for the same
    # caller before this many seconds: its offers are left to time out instead.
    retry_failed_phone_s: float = Field(10.0, ge=0)
    # Seconds before an offer expires that ringing must stop, so the answer never
    # comes after routing has given the call to someone else.
    offer_margin_s: float = Field(1.0, ge=0)
    moh_class: str = Field("default", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    smtp: SmtpConfig = SmtpConfig()

    def spool_path(self, data_dir: Path) -> Path:
        return self.spool_dir or Path(data_dir) / "asterisk" / "spool" / "ivr"

    def voicemail_path(self, data_dir: Path) -> Path:
        return self.voicemail_dir or Path(data_dir) / "voicemail"
