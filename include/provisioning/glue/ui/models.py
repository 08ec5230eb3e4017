"""What the Provisioning page's JSON API answers: one model per shape, so the answers are
checked on the way out and described in the app's OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

# object type -> action -> status -> number (a real cycle), or -> number (what a dry run would do)
ActionCounts = dict[str, dict[str, dict[str, int] | int]]


class PartitionProgress(BaseModel):
    """One partition of a partitioned apply, live while it runs."""

    partition: int  # 0-based, as the mapped task's index
    status: str  # running, succeeded, failed, stopped
    attempted: int
    succeeded: int
    failed: int


class LastCycle(BaseModel):
    cycle_id: str
    status: str
    started_at: datetime
    duration_seconds: float | None
    actions: ActionCounts
    run_url: str
    partitions: list[PartitionProgress] = []


class Hold(BaseModel):
    """What the accidental-deletion guard holds: the cycle an approval names, and why."""

    cycle_id: str
    held_at: datetime
    reason: str


class AppRow(BaseModel):
    app: str
    dag_id: str
    state: Literal["active", "quarantined", "paused"]
    quarantine_reason: str | None
    retry_at: datetime | None
    last_cycle: LastCycle | None
    staged: int  # removals waiting for approval
    in_escrow: int
    linked: int
    hold: Hold | None


class ConfigProblem(BaseModel):
    field: str  # the field path; empty: the file as a whole
    message: str


class BrokenConfig(BaseModel):
    """An app config that does not load: its DAG is an import error, and the page says why."""

    app: str
    file: str
    problems: list[ConfigProblem]
    message: str


class LogRow(BaseModel):
    id: int
    change_id: str
    app: str
    cycle_id: str
    time: datetime
    object_type: str
    source_id: str
    source_display: str | None
    target_id: str | None
    action: str
    status: str
    modified_properties: Any  # [{path, old, new}] for changes; other JSON for other rows
    detail: str | None
    error_code: str | None
    error_message: str | None
    duration_ms: float | None
    lifecycle: str | None = None  # joiner | mover | leaver
    run_url: str | None


class LogPage(BaseModel):
    rows: list[LogRow]
    next_before_id: int | None  # the cursor of the next (older) page; None: this is the last


class CycleBar(BaseModel):
    """One cycle in the chart: its actions summed per status."""

    cycle_id: str
    started_at: datetime
    status: str
    succeeded: int
    failed: int
    staged: int
    run_url: str


class Vocabulary(BaseModel):
    """The words the log's filters offer, as the engine and the store define them."""

    actions: list[str]
    statuses: list[str]
    object_types: list[str]
    lifecycles: list[str]
