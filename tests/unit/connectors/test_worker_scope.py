"""The HR source's date and status rules, day by day, without a file."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from provisioning.connectors.directory.hr_file.worker_scope import Standing, StatusRules, today_in

RULES = StatusRules.of(["Active", "Leave of Absence"], ["Pre-Hire"], ["Terminated"], 7, "%Y-%m-%d")
JUNE_30 = date(2031, 6, 30)


def on(day: date, status="Active", hire="2020-01-06", termination="") -> Standing:
    return RULES.standing(status, hire, termination, day)


@pytest.mark.parametrize("status", ["Active", " active ", "LEAVE OF ABSENCE"])
def test_an_active_worker_is_enabled_whatever_the_case_and_spaces_of_the_status(status):
    assert on(JUNE_30, status) == Standing(True)


def test_a_pre_hire_comes_into_scope_prehire_days_before_the_start_date():
    assert on(date(2031, 7, 7), "Pre-Hire", "2031-07-15") == Standing(
        False, "starts on 2031-07-15: in scope from 2031-07-08 (7 days before)"
    )
    assert on(date(2031, 7, 8), "Pre-Hire", "2031-07-15") == Standing(True)
    assert on(date(2031, 7, 20), "Pre-Hire", "2031-07-15") == Standing(True)


def test_an_active_worker_with_a_future_hire_date_waits_for_the_window_like_a_pre_hire():
    assert not on(date(2031, 7, 1), "Active", "2031-07-15").enabled


def test_a_pre_hire_whose_start_moves_later_leaves_scope_until_the_new_window():
    assert on(date(2031, 7, 9), "Pre-Hire", "2031-07-15").enabled
    moved = on(date(2031, 7, 9), "Pre-Hire", "2031-09-01")
    assert moved == Standing(False, "starts on 2031-09-01: in scope from 2031-08-25 (7 days before)")


def test_a_leaver_keeps_access_through_the_termination_day_and_loses_it_the_day_after():
    assert on(JUNE_30, termination="2031-06-30") == Standing(True)
    assert on(date(2031, 7, 1), termination="2031-06-30") == Standing(
        False, "left on 2031-06-30 (terminationDate)"
    )


def test_a_future_termination_date_keeps_the_worker_in_scope():
    assert on(JUNE_30, termination="2031-12-31") == Standing(True)


def test_a_rehire_is_in_scope_although_the_old_termination_date_is_past():
    assert on(JUNE_30, hire="2031-03-01", termination="2029-12-31") == Standing(True)
    assert not on(JUNE_30, hire="2031-03-01", termination="2031-04-30").enabled  # left again


def test_an_inactive_status_is_out_of_scope_even_without_a_termination_date():
    assert on(JUNE_30, "Terminated") == Standing(False, "worker status 'Terminated'")


@pytest.mark.parametrize("status", ["Retired", "", None])
def test_an_unknown_or_empty_status_fails_closed(status):
    standing = on(JUNE_30, status)
    assert not standing.enabled and standing.problem is None
    assert "is not in active_statuses or prehire_statuses: treated as not employed" in standing.reason


def test_an_unreadable_termination_date_never_keeps_a_leaver_active():
    assert on(JUNE_30, termination="31/06/2031") == Standing(
        False, "terminationDate '31/06/2031' is not a date (%Y-%m-%d): treated as left"
    )


def test_an_unreadable_hire_date_is_the_rows_problem_unless_the_worker_has_left():
    assert on(JUNE_30, hire="soon") == Standing(False, problem="hireDate 'soon' is not a date (%Y-%m-%d)")
    assert on(JUNE_30, hire="soon", termination="2031-01-31").reason == "left on 2031-01-31 (terminationDate)"


def test_a_pre_hire_without_a_hire_date_stays_out_of_scope():
    assert on(JUNE_30, "Pre-Hire", hire="") == Standing(
        False, "worker status 'Pre-Hire' without a hireDate: scope cannot open"
    )


def test_dates_in_another_format():
    rules = StatusRules.of(["Active"], [], [], 0, "%d/%m/%Y")
    assert not rules.standing("Active", "01/02/2020", "29/06/2031", JUNE_30).enabled


def test_today_is_the_calendar_day_in_the_hr_time_zone():
    late_evening_utc = datetime(2031, 6, 30, 22, 30, tzinfo=UTC)
    assert today_in(ZoneInfo("Europe/Paris"), late_evening_utc) == date(2031, 7, 1)
    assert today_in(ZoneInfo("America/New_York"), late_evening_utc) == JUNE_30
