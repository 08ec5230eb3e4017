"""Which problems a cycle shows, and which of them deserve a message now.

An identity team wants to hear about a problem once when it starts, again only if it is still
going on after a while (``repeat_after``), and once when it is over -- not every ten minutes
while a quarantined app waits for its retry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

TITLES = {
    "cycle_failed": "provisioning cycle failed",
    "objects_failed": "objects failed to provision",
    "quarantine": "app in quarantine",
    "deletions_staged": "deletions staged for approval",
}


@dataclass(frozen=True)
class Notice:
    problem: str
    state: str  # new | ongoing | resolved
    message: str

    @property
    def title(self) -> str:
        prefix = {"new": "", "ongoing": "still: ", "resolved": "resolved: "}[self.state]
        return prefix + TITLES[self.problem]


@dataclass(frozen=True)
class Assessment:
    problems: dict[str, str]  # problem -> what to say
    judged: frozenset[str]  # the problems this cycle can tell about, present or not


def assess(summary: dict[str, Any], app_status: dict[str, Any], objects_failed_min: int) -> Assessment:
    """What one cycle says about the app's health. A dry run says nothing; a cycle skipped for
    quarantine speaks only about quarantine (it tried nothing, so it cannot end other problems)."""
    status = summary.get("status")
    if status == "dry_run":
        return Assessment({}, frozenset())
    problems: dict[str, str] = {}
    if app_status.get("quarantined"):
        retry = app_status.get("retry_at")
        problems["quarantine"] = (
            f"in quarantine ({app_status.get('quarantine_reason')})"
            + (f"; next attempt after {retry:%Y-%m-%d %H:%M} UTC" if retry else "")
            + ". Fix the cause, then trigger the DAG with restart=quarantine."
        )
    if status == "skipped":
        return Assessment(problems, frozenset({"quarantine"}))
    failed = summary.get("failed") or 0
    if status == "failed":
        problems["cycle_failed"] = (
            f"cycle {summary.get('cycle_id')} failed: {failed} action(s) failed, "
            f"{summary.get('not_applied') or 0} not applied"
            + (f"; {summary['error']}" if summary.get("error") else "")
        )
    if failed >= objects_failed_min:
        problems["objects_failed"] = (
            f"{failed} action(s) failed in cycle {summary.get('cycle_id')}; they wait in escrow "
            f"({summary.get('in_escrow') or 0} object(s) now) and are retried automatically"
        )
    if summary.get("staged"):
        problems["deletions_staged"] = (
            f"{summary['staged']} removal action(s) (disables, deletes, member removals) held by the "
            "accidental-deletion guard. Check the provisioning log, then trigger the DAG with "
            f"approve={summary.get('cycle_id')} to approve exactly that set."
        )
    return Assessment(problems, frozenset(TITLES))


def decide(
    assessment: Assessment,
    open_problems: dict[str, dict[str, Any]],
    *,
    watched: Iterable[str],
    now: datetime,
    repeat_after: timedelta,
) -> list[Notice]:
    """``open_problems``: problem -> {open, last_sent} as last recorded. A problem is new (send),
    ongoing (send only once ``repeat_after`` has passed since the last message) or resolved."""
    watched = set(watched)
    notices = []
    for problem, message in assessment.problems.items():
        if problem not in watched:
            continue
        state = open_problems.get(problem)
        if state is None or not state["open"]:
            notices.append(Notice(problem, "new", message))
        elif state["last_sent"] is None or now - state["last_sent"] >= repeat_after:
            notices.append(Notice(problem, "ongoing", message))
    for problem, state in open_problems.items():
        if state["open"] and problem in assessment.judged and problem not in assessment.problems:
            notices.append(Notice(problem, "resolved", f"{TITLES[problem]}: over"))
    return notices
