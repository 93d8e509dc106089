"""IVR menus as data: what a saved document may say, and what it refers to."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ivr.menus import MenuSet

BASE: dict[str, Any] = {
    "greeting": "sound:hello",
    "menus": {
        "main": {
            "prompt": ["prompt:welcome", "sound:beep"],
            "options": {
                "1": {"type": "department", "department_id": 3},
                "2": {"type": "submenu", "menu": "billing"},
                "3": {"type": "voicemail", "department_id": 4},
                "4": {"type": "forward", "number": "+79990001122"},
                "5": {"type": "callback", "department_id": 3},
            },
        },
        "billing": {
            "prompt": "prompt:billing",
            "language": "ru",
            "options": {
                "0": {"type": "submenu", "menu": "main"},
                "9": {"type": "info", "prompt": "prompt:hours"},
            },
        },
    },
}


def with_changes(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


def test_a_menu_set_lists_the_prompts_and_departments_it_refers_to() -> None:
    menus = MenuSet.model_validate(BASE)
    assert {"prompt:welcome", "prompt:billing", "prompt:hours", "sound:hello"} <= menus.prompts()
    assert menus.department_ids() == {3, 4}
    assert menus.language_of("billing") == "ru"
    assert menus.language_of("main") == "en"
    assert menus.warnings() == []


def test_more_than_five_options_is_allowed_with_a_warning() -> None:
    options = {str(d): {"type": "department", "department_id": 1} for d in range(1, 8)}
    menus = MenuSet.model_validate(
        with_changes(menus={"main": {"prompt": "sound:beep", "options": options}})
    )
    assert menus.warnings() == ["menu 'main' has 7 options; callers remember at most 5"]


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"root": "start"}, "root menu 'start'"),
        (
            {
                "menus": {
                    "main": {
                        "prompt": "sound:x",
                        "options": {"1": {"type": "submenu", "menu": "y"}},
                    }
                }
            },
            "no menu named 'y'",
        ),
        (
            {"menus": {"main": {"prompt": "sound:x", "options": {"12": {"type": "hangup"}}}}},
            "String should match pattern",
        ),
        (
            {"menus": {"main": {"prompt": "file:/etc/passwd"}}},
            "String should match pattern",
        ),
        (
            {
                "menus": {
                    "main": {
                        "prompt": "sound:x",
                        "options": {"1": {"type": "forward", "number": "8800"}},
                    }
                }
            },
            "String should match pattern",
        ),
        ({"schedule": {"timezone": "Mars/Olympus", "weekly": {}}}, "unknown time zone"),
        (
            {
                "after_hours": {
                    "greeting": "sound:x",
                    "action": {"type": "department", "department_id": 1},
                }
            },
            "does not match any of the expected tags",
        ),
    ],
)
def test_a_document_that_cannot_work_is_refused_with_the_reason(
    change: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ValidationError, match=complaint):
        MenuSet.model_validate(with_changes(**change))


def test_the_schedule_of_a_menu_set_is_a_working_hours_schedule() -> None:
    menus = MenuSet.model_validate(
        with_changes(schedule={"timezone": "Europe/Moscow", "weekly": {"mon": ["09:00-18:00"]}})
    )
    schedule = menus.parsed_schedule()
    assert schedule is not None and schedule.timezone == "Europe/Moscow"
    assert MenuSet.model_validate(BASE).parsed_schedule() is None
