"""IVR menus as data: what a caller of one inbound number hears and can choose.

A :class:`MenuSet` is the document an admin edits (JSON through the admin API, stored
as is); every call reads the current one, so a change needs no Asterisk reload. It is
validated here for shape; :mod:`ivr.services` checks what only the database and
Asterisk know (the departments and prompts it names) before it is saved.

Prompts are referred to as ``sound:<name>`` (Asterisk's own sound files, e.g.
``sound:queue-thankyou``) or ``prompt:<name>`` (an uploaded prompt).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .schedule import Schedule, ScheduleError

# More options than this is allowed, but callers forget them: the admin is warned.
RECOMMENDED_MAX_OPTIONS = 5

PromptRef = Annotated[
    str, Field(pattern=r"^(sound:[A-Za-z0-9_/-]{1,128}|prompt:[a-z0-9_-]{1,64})$")
]
Digit = Annotated[str, Field(pattern=r"^[0-9*#]$")]
E164 = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")]
Email = Annotated[str, Field(pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}$")]
Language = Annotated[str, Field(pattern=r"^[a-z]{2}(_[A-Z]{2})?$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_tuple(value: Any) -> Any:
    """A single prompt may be written without the list around it."""
    return (value,) if isinstance(value, str) else value


Prompts = Annotated[tuple[PromptRef, ...], Field(default=())]


class DepartmentAction(_Model):
    """Wait in the department's queue for an agent."""

    type: Literal["department"]
    department_id: int = Field(gt=0)
    skills: dict[str, int] = Field(default_factory=dict)
    priority: int = Field(0, ge=0, le=100)


class SubmenuAction(_Model):
    type: Literal["submenu"]
    menu: str


class VoicemailAction(_Model):
    """Record a message; the department's mailboxes (or ``notify``) get an e-mail."""

    type: Literal["voicemail"]
    department_id: int | None = Field(None, gt=0)
    notify: tuple[Email, ...] = ()


class ForwardAction(_Model):
    """Ring an external number; when it does not answer, voicemail or hang up."""

    type: Literal["forward"]
    number: E164
    ring_s: float | None = Field(None, gt=0, le=600)
    no_answer: Literal["voicemail", "hangup"] = "voicemail"


class CallbackAction(_Model):
    """Queue a callback to the caller's number in the department and say goodbye."""

    type: Literal["callback"]
    department_id: int = Field(gt=0)


class InfoAction(_Model):
    """Play an information message, then the same menu again."""

    type: Literal["info"]
    prompt: Prompts

    _single = field_validator("prompt", mode="before")(_as_tuple)


class HangupAction(_Model):
    type: Literal["hangup"]
    prompt: Prompts

    _single = field_validator("prompt", mode="before")(_as_tuple)


Action = Annotated[
    DepartmentAction
    | SubmenuAction
    | VoicemailAction
    | ForwardAction
    | CallbackAction
    | InfoAction
    | HangupAction,
    Field(discriminator="type"),
]
# What can follow the after-hours greeting: not a department (nobody is there).
AfterHoursAction = Annotated[
    VoicemailAction | ForwardAction | CallbackAction | HangupAction | SubmenuAction,
    Field(discriminator="type"),
]


class Menu(_Model):
    prompt: Prompts
    options: dict[Digit, Action] = Field(default_factory=dict)
    # Seconds to wait for a digit after the prompt.
    timeout_s: float = Field(5.0, gt=0, le=60)
    # How many times the menu is offered again after an invalid digit or silence,
    # before ``default`` is taken.
    repeats: int = Field(2, ge=0, le=10)
    invalid_prompt: Prompts = ("sound:pbx-invalid",)
    timeout_prompt: Prompts = ()
    default: Action = HangupAction(type="hangup", prompt=("sound:vm-goodbye",))
    language: Language | None = None

    _single = field_validator("prompt", "invalid_prompt", "timeout_prompt", mode="before")(
        _as_tuple
    )


class AfterHours(_Model):
    greeting: Prompts
    action: AfterHoursAction = HangupAction(type="hangup", prompt=())

    _single = field_validator("greeting", mode="before")(_as_tuple)


class Waiting(_Model):
    """What a caller waiting in a queue hears between the music."""

    announce_position: bool = True
    announce_wait: bool = True
    # The digit that turns the call into a callback; None: not offered.
    callback_digit: Digit | None = "1"
    callback_offer: Prompts = ("sound:vm-tocallback", "sound:vm-press", "sound:digits/1")
    callback_confirm: Prompts = ("sound:auth-thankyou", "sound:vm-goodbye")
    # Played once, before the caller's first wait, when the department's recording
    # policy says to announce. The stock sound closest to "this call may be recorded"
    # in asterisk-core-sounds ("this conference is now being recorded"); an uploaded
    # prompt with the house wording replaces it.
    recording_notice: Prompts = ("sound:conf-now-recording",)

    _single = field_validator(
        "callback_offer", "callback_confirm", "recording_notice", mode="before"
    )(_as_tuple)


class MenuSet(_Model):
    """Everything about one inbound number."""

    language: Language = "en"
    # None: always open.
    schedule: dict[str, Any] | None = None
    # Played first in working hours, before the root menu.
    greeting: Prompts
    after_hours: AfterHours = AfterHours(greeting=("sound:please-try-call-later",))
    root: str = "main"
    menus: dict[str, Menu]
    waiting: Waiting = Waiting()
    # Department id → addresses told about its voicemail.
    mailboxes: dict[int, tuple[Email, ...]] = Field(default_factory=dict)

    _single = field_validator("greeting", mode="before")(_as_tuple)

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                Schedule.from_dict(value)
            except ScheduleError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _menus_exist(self) -> MenuSet:
        if self.root not in self.menus:
            raise ValueError(f"root menu {self.root!r} is not among the menus")
        for name, action in self.actions():
            if isinstance(action, SubmenuAction) and action.menu not in self.menus:
                raise ValueError(f"{name}: no menu named {action.menu!r}")
        return self

    def parsed_schedule(self) -> Schedule | None:
        return Schedule.from_dict(self.schedule) if self.schedule is not None else None

    def actions(self) -> Iterator[tuple[str, Action | AfterHoursAction]]:
        """Every action with where it is, for checks."""
        yield "after_hours.action", self.after_hours.action
        for menu_name, menu in self.menus.items():
            for digit, action in menu.options.items():
                yield f"menus.{menu_name}.options.{digit}", action
            yield f"menus.{menu_name}.default", menu.default

    def prompts(self) -> set[str]:
        """Every prompt reference in the document."""
        refs = set(self.greeting) | set(self.after_hours.greeting)
        refs |= set(self.waiting.callback_offer) | set(self.waiting.callback_confirm)
        refs |= set(self.waiting.recording_notice)
        for menu in self.menus.values():
            refs |= set(menu.prompt) | set(menu.invalid_prompt) | set(menu.timeout_prompt)
        for _, action in self.actions():
            if isinstance(action, InfoAction | HangupAction):
                refs |= set(action.prompt)
        return refs

    def department_ids(self) -> set[int]:
        ids = set(self.mailboxes)
        for _, action in self.actions():
            if isinstance(action, DepartmentAction | CallbackAction):
                ids.add(action.department_id)
            elif isinstance(action, VoicemailAction) and action.department_id is not None:
                ids.add(action.department_id)
        return ids

    def warnings(self) -> list[str]:
        return [
            f"menu {name!r} has {len(menu.options)} options; callers remember at most "
            f"{RECOMMENDED_MAX_OPTIONS}"
            for name, menu in self.menus.items()
            if len(menu.options) > RECOMMENDED_MAX_OPTIONS
        ]

    def language_of(self, menu: str) -> str:
        return self.menus[menu].language or self.language
