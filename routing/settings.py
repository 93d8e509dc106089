"""Department settings: how a department's queue is run, editable by an admin at run time.

Stored as JSON in ``departments.settings`` and validated here, both when an admin
changes them (errors name the field) and when they are read back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .capacity import DEFAULT_CAPACITY
from .models import CHANNELS, VOICE_CHANNELS, Channel, Mode, Strategy

# department:<id> moves the interaction there (it keeps its enqueue time); the others end
# it as expired and tell the feature that owns it what to do instead.
_OVERFLOW = re.compile(r"^(department:\d{1,18}|voicemail|callback|forward:\+[1-9]\d{6,14})$")
MAX_COST = 10 * DEFAULT_CAPACITY


class DepartmentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # queue: offer to one agent at a time, chosen by the strategy; ring_group: offer to
    # every eligible agent at once, the first to accept takes it.
    mode: Mode = "queue"
    strategy: Strategy = "longest_idle"
    # Served first to last; each place up the list is a head start of priority_step_s.
    channel_priority: tuple[Channel, ...] = CHANNELS
    # Seconds of waiting that one step of priority (channel place or interaction
    # priority) is worth: the rate of priority aging.
    priority_step_s: float = Field(30.0, ge=0, le=86400)
    # Cost overrides of routing.capacity.DEFAULT_COSTS.
    channel_costs: dict[Channel, int] = Field(default_factory=dict)
    # Offer timeouts by channel; a channel not listed uses the configured default.
    offer_timeout_s: dict[Channel, float] = Field(default_factory=dict)
    # Text channels whose offers are accepted without the agent confirming.
    auto_accept: frozenset[Channel] = frozenset()
    # After max_wait_s in the queue an interaction overflows to overflow_target.
    max_wait_s: float | None = Field(None, gt=0, le=7 * 86400)
    overflow_target: str | None = None
    service_level_s: float = Field(20.0, gt=0, le=3600)
    # How long an interaction waits for its preferred agent before anyone may take it.
    sticky_s: float = Field(0.0, ge=0, le=86400)

    @field_validator("channel_priority")
    @classmethod
    def _unique_channels(cls, value: tuple[Channel, ...]) -> tuple[Channel, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each channel may appear once")
        return value

    @field_validator("channel_costs")
    @classmethod
    def _costs_in_range(cls, value: dict[Channel, int]) -> dict[Channel, int]:
        for channel, cost in value.items():
            if not 1 <= cost <= MAX_COST:
                raise ValueError(f"cost of {channel} must be between 1 and {MAX_COST}")
        return value

    @field_validator("offer_timeout_s")
    @classmethod
    def _timeouts_in_range(cls, value: dict[Channel, float]) -> dict[Channel, float]:
        for channel, seconds in value.items():
            if not 0 < seconds <= 86400:
                raise ValueError(f"offer timeout of {channel} must be between 0 and 86400 s")
        return value

    @field_validator("auto_accept")
    @classmethod
    def _no_automatic_calls(cls, value: frozenset[Channel]) -> frozenset[Channel]:
        calls = value & VOICE_CHANNELS
        if calls:
            raise ValueError(
                f"{', '.join(sorted(calls))} offers are accepted by answering the phone"
            )
        return value

    @field_validator("overflow_target")
    @classmethod
    def _overflow_syntax(cls, value: str | None) -> str | None:
        if value is not None and not _OVERFLOW.match(value):
            raise ValueError(
                "must be department:<id>, voicemail, callback or forward:<E.164 number>"
            )
        return value

    @model_validator(mode="after")
    def _overflow_needs_max_wait(self) -> DepartmentSettings:
        if self.overflow_target is not None and self.max_wait_s is None:
            raise ValueError("overflow_target needs max_wait_s")
        return self

    def overflow_department(self) -> int | None:
        if self.overflow_target and self.overflow_target.startswith("department:"):
            return int(self.overflow_target.partition(":")[2])
        return None

    def offer_timeout(self, channel: Channel, default_s: float) -> float:
        return self.offer_timeout_s.get(channel, default_s)


def merged_settings(current: DepartmentSettings, changes: Mapping[str, Any]) -> DepartmentSettings:
    """``current`` with ``changes`` applied, validated as a whole (raises ValidationError)."""
    return DepartmentSettings.model_validate({**current.model_dump(mode="json"), **changes})
