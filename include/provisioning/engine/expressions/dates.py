"""Entra's date functions. DateTimes are aware UTC datetimes inside an expression and become
text in Entra's format ``M/d/yyyy h:mm:ss tt`` (UTC) when they leave it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

# AD file time: 100-nanosecond intervals since 1601-01-01 UTC.
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_DATE_WITH_OFFSET = re.compile(r"^(\d{4}-\d{2}-\d{2})([+-]\d{2}:\d{2})$")  # Workday's 2012-03-16-07:00
_ENTRA_FORMAT = "%m/%d/%Y %I:%M:%S %p"
_UNITS = {"d": "days", "y": "days", "w": "days", "ww": "weeks", "h": "hours", "n": "minutes", "s": "seconds"}


class DateError(ValueError):
    pass


def render(value: datetime) -> str:
    """M/d/yyyy h:mm:ss tt, in UTC."""
    value = value.astimezone(UTC)
    hour = value.hour % 12 or 12
    return f"{value.month}/{value.day}/{value.year} {hour}:{value.minute:02}:{value.second:02} " + (
        "AM" if value.hour < 12 else "PM"
    )


def to_datetime(value: Any) -> datetime | None:
    """A DateTime from CDate-style text: ISO 8601, date with offset, or Entra's own format."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    match = _DATE_WITH_OFFSET.match(text)
    if match:
        text = f"{match[1]}T00:00:00{match[2]}"
    for parse in (datetime.fromisoformat, lambda t: datetime.strptime(t, _ENTRA_FORMAT)):
        try:
            parsed = parse(text)
        except ValueError:
            continue
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    raise DateError(f"{value!r} is not a date/time CDate understands")


def cdate(value: Any) -> datetime | None:
    return to_datetime(value)


def date_add(interval: Any, amount: Any, value: Any) -> datetime | None:
    moment = to_datetime(value)
    if moment is None or amount is None:
        return None
    interval, amount = str(interval), int(float(amount))
    if interval in ("yyyy", "m", "q"):
        months = amount * {"yyyy": 12, "m": 1, "q": 3}[interval]
        year, month = divmod(moment.month - 1 + months, 12)
        year += moment.year
        day = min(moment.day, _days_in_month(year, month + 1))
        return moment.replace(year=year, month=month + 1, day=day)
    if interval not in _UNITS:
        raise DateError(f"unknown interval {interval!r} (yyyy, q, m, d, ww, h, n, s)")
    return moment + timedelta(**{_UNITS[interval]: amount})


def date_diff(interval: Any, first: Any, second: Any) -> int | None:
    """Calendar boundaries crossed from ``first`` to ``second`` (VBA's DateDiff): 2021-08-25 to
    2012-03-16 is -113 months, -9 years and -493 weeks (Sundays), as Entra's examples show."""
    a, b = to_datetime(first), to_datetime(second)
    if a is None or b is None:
        return None
    interval = str(interval)
    if interval == "yyyy":
        return b.year - a.year
    if interval == "q":
        return (b.year - a.year) * 4 + (b.month - 1) // 3 - (a.month - 1) // 3
    if interval == "m":
        return (b.year - a.year) * 12 + b.month - a.month
    if interval in ("d", "y", "w"):
        return (b.date() - a.date()).days
    if interval == "ww":
        return _week(b) - _week(a)
    seconds = {"h": 3600, "n": 60, "s": 1}.get(interval)
    if seconds is None:
        raise DateError(f"unknown interval {interval!r} (yyyy, q, m, d, ww, h, n, s)")
    return int(
        (b - _FILETIME_EPOCH).total_seconds() // seconds - (a - _FILETIME_EPOCH).total_seconds() // seconds
    )


def date_from_num(value: Any) -> datetime | None:
    if value is None:
        return None
    return _FILETIME_EPOCH + timedelta(microseconds=int(value) // 10)


def num_from_date(value: Any) -> int | None:
    moment = to_datetime(value)
    if moment is None:
        return None
    delta = moment - _FILETIME_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def _week(moment: datetime) -> int:
    """Index of the Sunday-started week holding ``moment``."""
    return (moment.date().toordinal() + 1) // 7  # ordinal 7 (0001-01-07) is a Sunday


def _days_in_month(year: int, month: int) -> int:
    following = datetime(year + (month == 12), month % 12 + 1, 1)
    return (following - timedelta(days=1)).day
