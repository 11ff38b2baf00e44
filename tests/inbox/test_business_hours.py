"""Business-hours arithmetic: weekdays, weekends, holidays, time zones, DST."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from helpdesk.business_hours import (
    Schedule,
    add_business_seconds,
    business_seconds_between,
    schedule_from_model,
)
from tests.helpdesk.factories import (
    BusinessHoursFactory,
    BusinessHoursIntervalFactory,
    HolidayFactory,
)

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NINE_TO_FIVE = {day: ((dt.time(9), dt.time(17)),) for day in range(5)}


def at(*args: int, tz: dt.tzinfo = dt.UTC) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)


def hours(n: float) -> float:
    return n * 3600


office = Schedule(tz=dt.UTC, intervals=NINE_TO_FIVE)


def test_calendar_time_without_schedule():
    start = at(2026, 3, 6, 16)
    assert add_business_seconds(start=start, seconds=hours(4), schedule=None) == at(2026, 3, 6, 20)


def test_within_one_day():
    # Monday 10:00 + 4h = 14:00
    assert add_business_seconds(start=at(2026, 3, 2, 10), seconds=hours(4), schedule=office) == at(
        2026, 3, 2, 14
    )


def test_before_opening_starts_at_opening():
    assert add_business_seconds(start=at(2026, 3, 2, 6), seconds=hours(1), schedule=office) == at(
        2026, 3, 2, 10
    )


def test_rolls_over_the_night():
    # Monday 16:00 + 2h: 1h Monday, 1h Tuesday -> Tuesday 10:00
    assert add_business_seconds(start=at(2026, 3, 2, 16), seconds=hours(2), schedule=office) == at(
        2026, 3, 3, 10
    )


def test_skips_the_weekend():
    # Friday 16:00 + 4h: 1h Friday, 3h Monday -> Monday 12:00
    assert add_business_seconds(start=at(2026, 3, 6, 16), seconds=hours(4), schedule=office) == at(
        2026, 3, 9, 12
    )
    # Created on Saturday: the clock starts Monday 09:00.
    assert add_business_seconds(start=at(2026, 3, 7, 11), seconds=hours(1), schedule=office) == at(
        2026, 3, 9, 10
    )


def test_skips_holidays():
    with_holiday = Schedule(
        tz=dt.UTC, intervals=NINE_TO_FIVE, holidays=frozenset({dt.date(2026, 12, 25)})
    )
    # Thursday Dec 24 16:00 + 2h: 1h Thursday, Friday is a holiday, weekend, Monday 10:00.
    assert add_business_seconds(
        start=at(2026, 12, 24, 16), seconds=hours(2), schedule=with_holiday
    ) == at(2026, 12, 28, 10)


def test_local_time_zone_and_dst():
    berlin = Schedule(tz=BERLIN, intervals=NINE_TO_FIVE)
    # Monday 9:00 Berlin in winter is 08:00 UTC.
    assert add_business_seconds(start=at(2026, 3, 2, 7), seconds=hours(1), schedule=berlin) == at(
        2026, 3, 2, 9
    )
    # Friday March 27, 16:00 Berlin (15:00 UTC) + 2h: DST starts on Sunday March 29, so
    # Monday 10:00 Berlin is 08:00 UTC.
    assert add_business_seconds(start=at(2026, 3, 27, 15), seconds=hours(2), schedule=berlin) == at(
        2026, 3, 30, 8
    )


def test_split_intervals_lunch_break():
    lunch = Schedule(
        tz=dt.UTC, intervals={0: ((dt.time(9), dt.time(12)), (dt.time(13), dt.time(17)))}
    )
    assert add_business_seconds(start=at(2026, 3, 2, 11), seconds=hours(2), schedule=lunch) == at(
        2026, 3, 2, 14
    )


def test_business_seconds_between_is_the_inverse():
    start = at(2026, 3, 6, 16)
    end = add_business_seconds(start=start, seconds=hours(5.5), schedule=office)
    assert business_seconds_between(start=start, end=end, schedule=office) == hours(5.5)
    # Over a weekend only open hours count.
    assert (
        business_seconds_between(start=at(2026, 3, 6, 17), end=at(2026, 3, 9, 9), schedule=office)
        == 0
    )
    assert business_seconds_between(start=end, end=start, schedule=office) == 0


def test_no_intervals_is_an_error():
    with pytest.raises(ValueError, match="no opening"):
        add_business_seconds(start=at(2026, 3, 2), seconds=60, schedule=Schedule(dt.UTC, {}))


@pytest.mark.django_db
def test_schedule_from_model():
    hours_row = BusinessHoursFactory(time_zone="Europe/Berlin")
    BusinessHoursIntervalFactory(business_hours=hours_row, weekday=0)
    HolidayFactory(business_hours=hours_row, date=dt.date(2026, 3, 2))
    schedule = schedule_from_model(hours_row)
    assert schedule.tz == BERLIN
    assert schedule.intervals == {0: ((dt.time(9), dt.time(17)),)}
    # Monday March 2 is a holiday: next Monday 09:00 Berlin = 08:00 UTC, +1h.
    assert add_business_seconds(start=at(2026, 3, 2, 8), seconds=hours(1), schedule=schedule) == at(
        2026, 3, 9, 9
    )
