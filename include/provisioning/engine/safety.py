"""The rules that keep an unattended cycle from doing harm: escrow backoff and quarantine (the
accidental-deletion guard is removal_guard.py). Pure decisions; the cycle steps act on them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

# Escrow: an object whose action failed waits this long before its next attempt, by failure count
# (the first retry is the next cycle). Errors that retrying cannot fix start at the long end.
ESCROW_FIRST_BACKOFF = timedelta(minutes=30)
ESCROW_PERMANENT_BACKOFF = timedelta(hours=6)
ESCROW_MAX_BACKOFF = timedelta(days=1)
# Quarantine: retried after this, doubling per failed retry, up to once a day.
QUARANTINE_FIRST_BACKOFF = timedelta(minutes=20)
QUARANTINE_MAX_BACKOFF = timedelta(days=1)


def escrow_delay(failures: int, permanent: bool) -> timedelta:
    """How long an object that failed ``failures`` times in a row waits before the next try."""
    if permanent:
        return min(ESCROW_PERMANENT_BACKOFF * 2 ** (failures - 1), ESCROW_MAX_BACKOFF)
    if failures <= 1:
        return timedelta(0)
    return min(ESCROW_FIRST_BACKOFF * 2 ** (failures - 2), ESCROW_MAX_BACKOFF)


def fingerprint(action: str, payload: Any) -> str:
    """Identifies "the same request again": an escrowed object whose data changed is retried now."""
    text = json.dumps([action, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def quarantine_delay(level: int) -> timedelta:
    return min(QUARANTINE_FIRST_BACKOFF * 2 ** (level - 1), QUARANTINE_MAX_BACKOFF)


@dataclass(frozen=True)
class QuarantineDecision:
    quarantine: bool
    reason: str | None


def decide_quarantine(
    *, attempted: int, failed: int, app_error: str | None, failure_ratio: float, min_actions: int
) -> QuarantineDecision:
    """``app_error``: the cycle stopped on bad credentials or answers that break the protocol."""
    if app_error:
        return QuarantineDecision(True, app_error)
    if attempted >= min_actions and failed / attempted > failure_ratio:
        return QuarantineDecision(
            True,
            f"{failed} of {attempted} actions failed ({100 * failed / attempted:.0f}%, "
            f"over {100 * failure_ratio:g}%)",
        )
    return QuarantineDecision(False, None)
