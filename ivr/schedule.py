"""Working hours: weekly intervals in the schedule's own time zone, public holidays,
working weekends of a production calendar, and exception dates.

All rules are wall-clock times in ``Schedule.timezone``; every answer is an aware
instant. ``is_open`` and ``next_opening`` stay exact across DST changes (an opening
time that does not exist on a spring-forward day opens at the first instant after the
gap) and across midnight (an interval whose end is not after its start runs into the
next day).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

MINUTES_PER_DAY = 24 * 60
# How far ahead next_opening looks before it says "never".
HORIZON_DAYS = 400
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class ScheduleError(ValueError):
    """A schedule that cannot be used; the message names what is wrong."""


def _minutes(text: str, what: str) -> int:
    match = _HHMM.match(text)
    if match is None:
        raise ScheduleError(f"{what}: {text!r} is not a time HH:MM")
    value = int(match[1]) * 60 + int(match[2])
    if value > MINUTES_PER_DAY:
        raise ScheduleError(f"{what}: {text!r} is after 24:00")
    return value


@dataclass(frozen=True)
class Interval:
    """Open from ``start`` to ``end`` minutes after local midnight.

    ``end <= start`` runs past midnight into the next day (22:00–06:00); ``end`` may be
    1440 (24:00).
    """

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < MINUTES_PER_DAY or not 0 <= self.end <= MINUTES_PER_DAY:
            raise ScheduleError(f"interval {self.start}-{self.end} is outside one day")
        if self.start == self.end:
            raise ScheduleError("an interval must not be empty")

    @classmethod
    def parse(cls, text: str) -> Interval:
        """``"09:00-18:00"``."""
        start, sep, end = text.partition("-")
        if not sep:
            raise ScheduleError(f"{text!r} is not an interval HH:MM-HH:MM")
        return cls(_minutes(start.strip(), text), _minutes(end.strip(), text))

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def __str__(self) -> str:
        return (
            f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"
        )


@dataclass(frozen=True)
class Schedule:
    timezone: str
    # Weekday (0 = Monday) → intervals; a missing day is closed.
    weekly: Mapping[int, tuple[Interval, ...]]
    # Countries (ISO codes, "RU") whose public holidays close the center, and whose
    # working weekends (production calendar) open it with the hours of ``workday_like``.
    holiday_countries: tuple[str, ...] = ()
    workday_like: int = 0
    # Date → intervals of that date; an empty tuple closes the date.
    exceptions: Mapping[date, tuple[Interval, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(f"unknown time zone {self.timezone!r}") from None
        for day in self.weekly:
            if day not in range(7):
                raise ScheduleError(f"weekday {day} is not 0 (Monday) .. 6 (Sunday)")
        for country in self.holiday_countries:
            if country not in holidays.list_supported_countries():
                raise ScheduleError(f"no public-holiday calendar for country {country!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Schedule:
        """From the admin API / configuration shape::

        {"timezone": "Europe/Moscow",
         "weekly": {"mon": ["09:00-18:00"], ...},
         "holidays": ["RU"],
         "exceptions": {"2026-12-31": [], "2026-12-30": ["10:00-15:00"]}}
        """
        weekly_in = data.get("weekly") or {}
        if not isinstance(weekly_in, Mapping):
            raise ScheduleError("weekly must map weekday names to interval lists")
        weekly: dict[int, tuple[Interval, ...]] = {}
        for name, intervals in weekly_in.items():
            if name not in WEEKDAYS:
                raise ScheduleError(f"weekly: {name!r} is not one of {', '.join(WEEKDAYS)}")
            weekly[WEEKDAYS.index(name)] = _intervals(intervals, f"weekly.{name}")
        exceptions: dict[date, tuple[Interval, ...]] = {}
        for day, intervals in dict(data.get("exceptions") or {}).items():
            try:
                parsed = date.fromisoformat(str(day))
            except ValueError:
                raise ScheduleError(f"exceptions: {day!r} is not a date YYYY-MM-DD") from None
            exceptions[parsed] = _intervals(intervals, f"exceptions.{day}")
        countries = data.get("holidays") or ()
        if isinstance(countries, str) or not all(isinstance(c, str) for c in countries):
            raise ScheduleError("holidays must be a list of country codes")
        return cls(
            timezone=str(data.get("timezone", "")),
            weekly=weekly,
            holiday_countries=tuple(countries),
            exceptions=exceptions,
        )

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _holidays(self, year: int) -> list[holidays.HolidayBase]:
        return [_calendar(c, year) for c in self.holiday_countries]

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        """The intervals that start on local date ``day``."""
        if day in self.exceptions:
            return self.exceptions[day]
        calendars = self._holidays(day.year)
        if any(day in cal for cal in calendars):
            return ()
        if any(day in getattr(cal, "weekend_workdays", ()) for cal in calendars):
            return self.weekly.get(self.workday_like, ())
        return self.weekly.get(day.weekday(), ())

    def _spans(self, first: date, last: date) -> Iterator[tuple[datetime, datetime]]:
        """Open spans as aware UTC instants, in order of their start, for intervals
        starting from ``first`` to ``last``."""
        day = first
        while day <= last:
            spans = []
            for interval in self.intervals_on(day):
                end_day = day + timedelta(days=1) if interval.overnight else day
                spans.append(
                    (self._instant(day, interval.start), self._instant(end_day, interval.end))
                )
            # Every span of a day starts on that day, so sorting per day sorts them all.
            yield from sorted(spans)
            day += timedelta(days=1)

    def _instant(self, day: date, minutes: int) -> datetime:
        if minutes == MINUTES_PER_DAY:
            day, minutes = day + timedelta(days=1), 0
        local = datetime.combine(day, time(minutes // 60, minutes % 60), self.zone)
        # A wall time in a spring-forward gap does not exist; round-tripping through UTC
        # and back moves it past the gap, to the first real instant after it.
        as_utc = local.astimezone(UTC)
        if as_utc.astimezone(self.zone).replace(tzinfo=None) != local.replace(tzinfo=None):
            return _first_instant_after_gap(local.replace(tzinfo=None), self.zone)
        return as_utc

    def is_open(self, at: datetime) -> bool:
        _require_aware(at)
        local_day = at.astimezone(self.zone).date()
        at_utc = at.astimezone(UTC)
        return any(
            start <= at_utc < end
            for start, end in self._spans(local_day - timedelta(days=1), local_day)
        )

    def next_opening(self, at: datetime) -> datetime | None:
        """``at`` itself when open, else the first instant after it that is open, or
        None when the schedule never opens within the horizon."""
        _require_aware(at)
        if self.is_open(at):
            return at
        at_utc = at.astimezone(UTC)
        local_day = at.astimezone(self.zone).date()
        for start, _end in self._spans(local_day, local_day + timedelta(days=HORIZON_DAYS)):
            if start > at_utc:
                return start.astimezone(self.zone)
        return None

    def next_closing(self, at: datetime) -> datetime | None:
        """When the span open at ``at`` ends (None when closed at ``at``)."""
        _require_aware(at)
        at_utc = at.astimezone(UTC)
        local_day = at.astimezone(self.zone).date()
        ends = [
            end
            for start, end in self._spans(local_day - timedelta(days=1), local_day)
            if start <= at_utc < end
        ]
        return max(ends).astimezone(self.zone) if ends else None


@functools.lru_cache(maxsize=64)
def _calendar(country: str, year: int) -> holidays.HolidayBase:
    # Building a calendar takes milliseconds; a schedule asks for the same year often.
    return holidays.country_holidays(country, years=year)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _intervals(value: object, what: str) -> tuple[Interval, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ScheduleError(f"{what}: must be a list of 'HH:MM-HH:MM' strings")
    return tuple(Interval.parse(v) for v in value)


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("schedule questions need a timezone-aware datetime")


def _first_instant_after_gap(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first real instant whose wall time is at or after ``wall``, a wall time that
    a DST gap skipped: the end of the gap."""
    # The two readings of the missing wall time (offset before / after the change)
    # bracket the transition; bisect between them to the microsecond.
    lo = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    hi = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    lo, hi = min(lo, hi), max(lo, hi)
    while hi - lo > timedelta(microseconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return hi
