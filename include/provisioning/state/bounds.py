"""What the store can hold of what an app sends back: ids short enough to index, codes and
messages clipped with a marker. An id too long to link fails its object, not the step."""

from __future__ import annotations

from dataclasses import replace

from provisioning.engine.outbox import Outcome
from provisioning.engine.vocabulary import OutboxStatus

# Ids are indexed: at 4 bytes a character, (app, type, id) stays under PostgreSQL's 2,704-byte
# btree entry limit. Codes and messages are only read by people: longer ones are cut, with a marker.
MAX_ID_LENGTH = 512
MAX_CODE_LENGTH = 128
MAX_MESSAGE_LENGTH = 4000
INVALID_APP_ID = "InvalidAppId"


def app_id_problem(target_id: str) -> str | None:
    """Why an id the app returned cannot be linked, if it cannot: that object fails, not the step."""
    if len(target_id) <= MAX_ID_LENGTH:
        return None
    return f"the app returned an id of {len(target_id)} characters (more than {MAX_ID_LENGTH}): not linked"


def clip(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters]"


def storable(outcome: Outcome) -> Outcome:
    """What the app sent back, made fit to record: an id too long to index fails the object
    (permanently: the same request gets the same id); codes, messages and details are clipped."""
    problem = app_id_problem(outcome.target_id) if outcome.target_id else None
    if problem:
        outcome = replace(
            outcome,
            status=OutboxStatus.FAILED,
            target_id=None,
            error_code=INVALID_APP_ID,
            error_message=problem,
            permanent=True,
        )
    clipped = {
        "error_code": clip(outcome.error_code, MAX_CODE_LENGTH),
        "error_message": clip(outcome.error_message, MAX_MESSAGE_LENGTH),
        "detail": clip(outcome.detail, MAX_MESSAGE_LENGTH),
    }
    # copied only when something was cut: this runs once per action, nearly always a no-op
    changed = {name: value for name, value in clipped.items() if value is not getattr(outcome, name)}
    return replace(outcome, **changed) if changed else outcome
