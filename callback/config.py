"""Configuration of the web callback (``[callback]`` in the TOML file).

Sites live here, not in the database: a site is a deployment decision (which origins
may embed the widget, which countries the company calls, which department serves it),
changed with the rest of the configuration. Standalone like the other feature
sections: this module must not import ``server``.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ivr.schedule import Schedule, ScheduleError


def _valid_schedule(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None:
        try:
            Schedule.from_dict(value)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteConfig(_Model):
    # The public key in the widget's <script> tag.
    key: str = Field(pattern=r"^[A-Za-z0-9_-]{4,64}$")
    name: str = ""
    # Origins (scheme://host[:port]) whose pages may post requests.
    origins: tuple[str, ...] = ()
    # ISO country codes of numbers the company calls for this site ("DE", "RU").
    countries: tuple[str, ...] = ()
    department_id: int = Field(ge=1)
    priority: int = Field(0, ge=0, le=100)
    # Working hours (ivr.schedule shape); None: always open.
    schedule: dict[str, Any] | None = None

    @field_validator("origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            scheme, sep, host = origin.partition("://")
            if scheme not in ("http", "https") or not sep or not host or "/" in host:
                raise ValueError(f"{origin!r} is not an origin like https://example.com")
        return value

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        supported = phonenumbers.SUPPORTED_REGIONS
        for country in value:
            if country not in supported:
                raise ValueError(f"{country!r} is not a country code phonenumbers knows")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _valid_schedule(value)

    def parsed_schedule(self) -> Schedule | None:
        return Schedule.from_dict(self.schedule) if self.schedule is not None else None


class CallbackConfig(_Model):
    sites: tuple[SiteConfig, ...] = ()
    # IVR callbacks: the region a caller's number without "+" is read in.
    default_region: str = "US"
    # Working hours of IVR callbacks (None: always open; the caller chose to wait).
    ivr_schedule: dict[str, Any] | None = None
    # Behind a reverse proxy every request comes from the proxy: the header it puts the
    # client's address in (its first entry counts), e.g. "X-Forwarded-For". Empty: the
    # connection's address. Only set it when the proxy overwrites what clients send.
    client_ip_header: str = Field("", pattern=r"^[A-Za-z0-9-]{0,64}$")
    # Abuse limits: POSTs per client address, requests per number, in the window.
    ip_limit: int = Field(10, ge=1)
    number_limit: int = Field(3, ge=1)
    limit_window_s: int = Field(3600, ge=1)
    # Attempts and their spacing: [timers] callback_max_attempts and
    # callback_retry_interval_s; each later wait is this many times the one before.
    retry_backoff: float = Field(2.0, ge=1.0, le=10.0)
    # Seconds the visitor's phone rings before an attempt counts as not answered.
    visitor_ring_s: int = Field(30, ge=5, le=120)
    # How often due requests (scheduled, retries) are looked for, and calls whose end
    # the server may have missed (a restart) are checked with Asterisk.
    poll_interval_s: float = Field(1.0, gt=0, le=60)
    # The latest a visitor may ask to be called, from now.
    max_schedule_ahead_days: int = Field(14, ge=1, le=90)

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a country code phonenumbers knows")
        return value

    @field_validator("ivr_schedule")
    @classmethod
    def _ivr_schedule(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _valid_schedule(value)

    @model_validator(mode="after")
    def _unique_keys(self) -> CallbackConfig:
        keys = [s.key for s in self.sites]
        if len(keys) != len(set(keys)):
            raise ValueError("two callback sites have the same key")
        return self

    def site(self, key: str) -> SiteConfig | None:
        return next((s for s in self.sites if s.key == key), None)
