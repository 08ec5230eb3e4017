"""Whether a worker of an HR export may have accounts today: worker status and dates, in the
configured time zone. Pure: no file, no clock (``today`` is given), so every rule is a unit test.

Fail closed: a status nobody configured, or a termination date that cannot be read, means not
employed -- a leaver must never keep access because HR typed a date we could not parse. A hire
date that cannot be read is the row's problem instead (its accounts are left alone, neither
created nor disabled): it never decides that someone left.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Standing:
    """``enabled``: in scope today. ``reason``: why not, for the disable's log row. ``problem``:
    the row cannot be judged (skipped, its accounts left alone)."""

    enabled: bool
    reason: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class StatusRules:
    """The config's statuses (compared trimmed and in any case), pre-hire window and date format."""

    active: frozenset[str]
    prehire: frozenset[str]
    inactive: frozenset[str]
    prehire_days: int
    date_format: str

    @classmethod
    def of(
        cls,
        active: Iterable[str],
        prehire: Iterable[str],
        inactive: Iterable[str],
        prehire_days: int,
        date_format: str,
    ) -> StatusRules:
        def fold(values: Iterable[str]) -> frozenset[str]:
            return frozenset(v.strip().casefold() for v in values)

        return cls(fold(active), fold(prehire), fold(inactive), prehire_days, date_format)

    def standing(
        self, status: str | None, hire: str | None, termination: str | None, today: date
    ) -> Standing:
        """The worker's standing on ``today`` (a date in the configured time zone)."""
        try:
            left_on = self._date(termination)
        except ValueError:
            return Standing(
                False, f"terminationDate {termination!r} is not a date ({self.date_format}): treated as left"
            )
        try:
            starts_on = self._date(hire)
        except ValueError:
            if left_on is not None and today > left_on:  # whatever the hire date, not a rehire we can see
                return Standing(False, f"left on {left_on.isoformat()} (terminationDate)")
            return Standing(False, problem=f"hireDate {hire!r} is not a date ({self.date_format})")
        folded = (status or "").strip().casefold()
        if folded in self.inactive:
            return Standing(False, f"worker status {status.strip()!r}")
        if folded not in self.active and folded not in self.prehire:
            shown = repr(status.strip()) if folded else "empty"
            return Standing(
                False,
                f"worker status {shown} is not in active_statuses or prehire_statuses: "
                "treated as not employed",
            )
        # a termination before the latest hire date belongs to an earlier employment (a rehire)
        if left_on is not None and today > left_on and (starts_on is None or starts_on <= left_on):
            return Standing(False, f"left on {left_on.isoformat()} (terminationDate)")
        if starts_on is None:
            if folded in self.prehire:
                return Standing(
                    False, f"worker status {status.strip()!r} without a hireDate: scope cannot open"
                )
            return Standing(True)
        opens = starts_on - timedelta(days=self.prehire_days)
        if today < opens:
            return Standing(
                False,
                f"starts on {starts_on.isoformat()}: in scope from {opens.isoformat()} "
                f"({self.prehire_days} days before)",
            )
        return Standing(True)

    def _date(self, value: str | None) -> date | None:
        if value is None or not value.strip():
            return None
        return datetime.strptime(value.strip(), self.date_format).date()


def today_in(zone: ZoneInfo, now: datetime) -> date:
    """The calendar day it is in the HR time zone: a termination date is the last day worked
    there, so access ends at midnight in Paris, not in UTC."""
    return now.astimezone(zone).date()
