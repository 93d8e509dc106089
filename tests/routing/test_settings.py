"""Department settings: defaults, and validation errors that name the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from routing.models import CHANNELS
from routing.settings import DepartmentSettings, merged_settings


def fields_of(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in exc.errors()}


def test_defaults_serve_every_channel_in_the_documented_order() -> None:
    settings = DepartmentSettings()
    assert settings.mode == "queue"
    assert settings.channel_priority == CHANNELS
    assert settings.offer_timeout("voice", 20.0) == 20.0
    assert settings.overflow_department() is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"mode": "broadcast"}, "mode"),
        ({"strategy": "fastest"}, "strategy"),
        ({"channel_priority": ["voice", "voice"]}, "channel_priority"),
        ({"channel_priority": ["fax"]}, "channel_priority.0"),
        ({"channel_costs": {"voice": 0}}, "channel_costs"),
        ({"offer_timeout_s": {"email": -1}}, "offer_timeout_s"),
        ({"auto_accept": ["voice"]}, "auto_accept"),
        ({"max_wait_s": 0}, "max_wait_s"),
        ({"max_wait_s": 60, "overflow_target": "somewhere"}, "overflow_target"),
        ({"service_level_s": 0}, "service_level_s"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_field(changes: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        merged_settings(DepartmentSettings(), changes)
    assert field in fields_of(caught.value)


def test_an_overflow_target_needs_a_max_wait() -> None:
    with pytest.raises(ValidationError, match="overflow_target needs max_wait_s"):
        DepartmentSettings(overflow_target="voicemail")
    settings = DepartmentSettings(max_wait_s=120, overflow_target="department:7")
    assert settings.overflow_department() == 7


def test_changes_keep_what_they_do_not_mention() -> None:
    current = DepartmentSettings(strategy="round_robin", channel_costs={"voice": 100})
    changed = merged_settings(current, {"sticky_s": 60})
    assert changed.strategy == "round_robin"
    assert changed.channel_costs == {"voice": 100}
    assert changed.sticky_s == 60
