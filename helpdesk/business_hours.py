"""Business-hours arithmetic for SLA clocks: weekly intervals, holidays, a time zone.

A `Schedule` is a plain snapshot of a `BusinessHours` row, so the arithmetic is pure and
cheap to test. `None` as a schedule means calendar time (24/7).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field

from .models import BusinessHours

# A schedule with intervals finds an opening within a couple of weeks even around long
# holidays; the cap only guards against a schedule whose every day is a holiday.
MAX_DAYS_SCANNED = 3 * 366


@dataclass(frozen=True)
class Schedule:
    tz: dt.tzinfo
    # weekday (0 = Monday) -> sorted (opens, closes) local times
    intervals: dict[int, tuple[tuple[dt.time, dt.time], ...]]
    holidays: frozenset[dt.date] = field(default_factory=frozenset)

    def openings(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """Return the aware opening intervals of a local calendar day."""
        if day in self.holidays:
            return []
        spans = []
        for opens, closes in self.intervals.get(day.weekday(), ()):
            start = dt.datetime.combine(day, opens, tzinfo=self.tz)
            end = dt.datetime.combine(day, closes, tzinfo=self.tz)
            spans.append((start, end))
        return spans

    def is_open(self, when: dt.datetime) -> bool:
        """Whether the aware moment `when` falls inside an opening (holidays closed)."""
        local = when.astimezone(self.tz)
        return any(start <= local < end for start, end in self.openings(local.date()))


def schedule_from_model(business_hours: BusinessHours | None) -> Schedule | None:
    """Snapshot a BusinessHours row (2 queries unless intervals/holidays are prefetched)."""
    if business_hours is None:
        return None
    intervals: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for interval in business_hours.intervals.all():
        intervals.setdefault(interval.weekday, []).append((interval.opens_at, interval.closes_at))
    try:
        tz = zoneinfo.ZoneInfo(business_hours.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = dt.UTC
    return Schedule(
        tz=tz,
        intervals={day: tuple(sorted(spans)) for day, spans in intervals.items()},
        holidays=frozenset(h.date for h in business_hours.holidays.all()),
    )


def add_business_seconds(
    *, start: dt.datetime, seconds: float, schedule: Schedule | None
) -> dt.datetime:
    """Return the instant `seconds` of open time after `start`."""
    if schedule is None:
        return start + dt.timedelta(seconds=seconds)
    if not schedule.intervals:
        raise ValueError("The business hours have no opening intervals.")
    remaining = dt.timedelta(seconds=max(0.0, seconds))
    day = start.astimezone(schedule.tz).date()
    for _ in range(MAX_DAYS_SCANNED):
        for opens, closes in schedule.openings(day):
            begin = max(opens, start)
            if begin >= closes:
                continue
            available = closes - begin
            if remaining <= available:
                # Normalise to UTC: aware arithmetic across a DST change stays exact.
                return (begin.astimezone(dt.UTC) + remaining).astimezone(dt.UTC)
            remaining -= available
        day += dt.timedelta(days=1)
    raise ValueError("No business hours found within the scan limit.")


def business_seconds_between(
    *, start: dt.datetime, end: dt.datetime, schedule: Schedule | None
) -> float:
    """Return the open time between two instants, in seconds (0 if end <= start)."""
    if end <= start:
        return 0.0
    if schedule is None:
        return (end - start).total_seconds()
    total = 0.0
    day = start.astimezone(schedule.tz).date()
    last = end.astimezone(schedule.tz).date()
    while day <= last:
        for opens, closes in schedule.openings(day):
            begin, finish = max(opens, start), min(closes, end)
            if finish > begin:
                total += (finish - begin).total_seconds()
        day += dt.timedelta(days=1)
    return total
