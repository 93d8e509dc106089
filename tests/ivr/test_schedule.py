"""Working-hours schedules: exact across DST, midnight, year ends and holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.schedule import Interval, Schedule, ScheduleError

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")

OFFICE = Schedule.from_dict(
    {
        "timezone": "Europe/Moscow",
        "weekly": {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": ["RU"],
    }
)


def test_weekday_hours_in_moscow_whatever_the_callers_zone() -> None:
    tuesday = datetime(2026, 11, 24, 9, 0, tzinfo=MSK)
    assert OFFICE.is_open(tuesday)
    assert not OFFICE.is_open(tuesday - timedelta(seconds=1))
    assert OFFICE.is_open(datetime(2026, 11, 24, 14, 59, tzinfo=UTC))  # 17:59 in Moscow
    assert not OFFICE.is_open(datetime(2026, 11, 24, 15, 0, tzinfo=UTC))  # 18:00 closes


def test_friday_evening_opens_next_on_monday_morning() -> None:
    friday_evening = datetime(2026, 11, 27, 19, 30, tzinfo=MSK)
    assert OFFICE.next_opening(friday_evening) == datetime(2026, 11, 30, 9, 0, tzinfo=MSK)


def test_public_holidays_of_the_production_calendar_are_closed() -> None:
    # 4 November (Unity Day) 2026 is a Wednesday.
    assert not OFFICE.is_open(datetime(2026, 11, 4, 12, 0, tzinfo=MSK))
    # New Year holidays run to 8 January, plus the day off moved to 9 January 2026.
    assert OFFICE.next_opening(datetime(2025, 12, 31, 18, 30, tzinfo=MSK)) == datetime(
        2026, 1, 12, 9, 0, tzinfo=MSK
    )


def test_a_working_saturday_of_the_production_calendar_is_open() -> None:
    # Saturday 1 November 2025 was a working day in Russia.
    assert OFFICE.is_open(datetime(2025, 11, 1, 10, 0, tzinfo=MSK))
    assert not OFFICE.is_open(datetime(2025, 11, 8, 10, 0, tzinfo=MSK))


def test_exception_dates_close_or_change_the_hours() -> None:
    schedule = Schedule.from_dict(
        {
            "timezone": "Europe/Moscow",
            "weekly": {"mon": ["09:00-18:00"], "tue": ["09:00-18:00"]},
            "exceptions": {"2026-11-30": [], "2026-12-01": ["12:00-14:00"]},
        }
    )
    assert not schedule.is_open(datetime(2026, 11, 30, 10, 0, tzinfo=MSK))
    assert not schedule.is_open(datetime(2026, 12, 1, 10, 0, tzinfo=MSK))
    assert schedule.next_opening(datetime(2026, 11, 30, 10, 0, tzinfo=MSK)) == datetime(
        2026, 12, 1, 12, 0, tzinfo=MSK
    )


def test_an_overnight_interval_runs_past_midnight_and_across_the_year_end() -> None:
    night = Schedule.from_dict({"timezone": "Europe/Berlin", "weekly": {"thu": ["22:00-06:00"]}})
    # Thursday 31 December 2026, 23:59 → open; Friday 1 January 2027, 05:59 → still open.
    assert night.is_open(datetime(2026, 12, 31, 23, 59, tzinfo=BERLIN))
    assert night.is_open(datetime(2027, 1, 1, 5, 59, tzinfo=BERLIN))
    assert not night.is_open(datetime(2027, 1, 1, 6, 0, tzinfo=BERLIN))
    assert night.next_closing(datetime(2027, 1, 1, 1, 0, tzinfo=BERLIN)) == datetime(
        2027, 1, 1, 6, 0, tzinfo=BERLIN
    )


def test_opening_hours_keep_their_wall_clock_across_dst_changes() -> None:
    berlin = Schedule.from_dict({"timezone": "Europe/Berlin", "weekly": {"mon": ["09:00-17:00"]}})
    # Monday before and after the end of summer time: 09:00 local is 07:00 then 08:00 UTC.
    assert berlin.next_opening(datetime(2026, 10, 19, 0, 0, tzinfo=UTC)) == datetime(
        2026, 10, 19, 7, 0, tzinfo=UTC
    )
    assert berlin.next_opening(datetime(2026, 10, 26, 0, 0, tzinfo=UTC)) == datetime(
        2026, 10, 26, 8, 0, tzinfo=UTC
    )


def test_an_opening_inside_the_spring_forward_gap_opens_when_the_gap_ends() -> None:
    night_shift = Schedule.from_dict(
        {"timezone": "America/New_York", "weekly": {"sun": ["02:30-04:00"]}}
    )
    # 8 March 2026: clocks jump from 02:00 to 03:00; 02:30 does not exist.
    opening = night_shift.next_opening(datetime(2026, 3, 8, 0, 0, tzinfo=NEW_YORK))
    assert opening == datetime(2026, 3, 8, 3, 0, tzinfo=NEW_YORK)
    assert night_shift.is_open(opening)
    # (in UTC: arithmetic on aware datetimes of one zone is wall-clock arithmetic)
    assert not night_shift.is_open(opening.astimezone(UTC) - timedelta(microseconds=1))


def test_the_repeated_hour_of_autumn_is_open_once_for_an_interval_across_it() -> None:
    overnight = Schedule.from_dict(
        {"timezone": "America/New_York", "weekly": {"sat": ["23:00-03:00"]}}
    )
    # 1 November 2026: 01:00-02:00 happens twice; the span lasts 5 real hours.
    start = overnight.next_opening(datetime(2026, 10, 31, 12, 0, tzinfo=NEW_YORK))
    end = overnight.next_closing(start)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=5)


def test_a_schedule_that_never_opens_says_so() -> None:
    closed = Schedule.from_dict({"timezone": "UTC", "weekly": {}})
    assert closed.next_opening(datetime(2026, 1, 1, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"timezone": "Mars/Olympus", "weekly": {}}, "time zone"),
        ({"timezone": "UTC", "weekly": {"monday": ["09:00-18:00"]}}, "monday"),
        ({"timezone": "UTC", "weekly": {"mon": ["9-18"]}}, "HH:MM"),
        ({"timezone": "UTC", "weekly": {"mon": ["09:00-09:00"]}}, "empty"),
        ({"timezone": "UTC", "weekly": {"mon": ["25:00-26:00"]}}, "HH:MM"),
        ({"timezone": "UTC", "weekly": {}, "exceptions": {"31.12.2026": []}}, "YYYY-MM-DD"),
        ({"timezone": "UTC", "weekly": {}, "holidays": ["XX"]}, "XX"),
    ],
)
def test_a_bad_schedule_is_refused_with_a_reason(data: dict, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Schedule.from_dict(data)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        OFFICE.is_open(datetime(2026, 11, 24, 10, 0))


ZONES = st.sampled_from(["Europe/Moscow", "Europe/Berlin", "America/New_York", "Asia/Tokyo"])
MINUTE = st.integers(0, 47).map(lambda q: q * 30)
INTERVALS = st.lists(
    st.tuples(MINUTE, MINUTE).filter(lambda p: p[0] != p[1]).map(lambda p: Interval(*p)),
    max_size=2,
)


@settings(max_examples=150, deadline=None)
@given(
    zone=ZONES,
    week=st.lists(INTERVALS, min_size=7, max_size=7),
    at=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
)
def test_next_opening_is_open_and_nothing_before_it_is(
    zone: str, week: list[list[Interval]], at: datetime
) -> None:
    schedule = Schedule(zone, {day: tuple(iv) for day, iv in enumerate(week)})
    opening = schedule.next_opening(at)
    if opening is None:
        assert all(not iv for iv in week)
        return
    assert opening >= at
    assert schedule.is_open(opening)
    step = (opening - at) / 20
    for i in range(20):
        assert not schedule.is_open(at + step * i) or opening == at


def test_intervals_on_a_holiday_are_empty_and_on_a_normal_day_are_the_weekly_ones() -> None:
    assert OFFICE.intervals_on(date(2026, 11, 4)) == ()
    assert OFFICE.intervals_on(date(2026, 11, 5)) == (Interval(540, 1080),)
