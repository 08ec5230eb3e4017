"""Settings of the safety nets: accidental-deletion holds, the run lease, quarantine, timeouts."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from provisioning.config.strict import StrictModel


class AccidentalDeletions(StrictModel):
    """Entra's accidental-deletion prevention: hold mass removals (disables, deletes, group deletes,
    member removals; each type counted alone) until approved. See engine/removal_guard.py."""

    enabled: bool = True
    max_count: int = Field(500, ge=1, description="more disables + deletes than this in one cycle: staged")
    max_percent: float = Field(
        30.0, gt=0, le=100, description="more than this share of the app's linked accounts: staged"
    )
    min_count: int = Field(10, ge=0, description="never staged below this many (small apps)")
    window_hours: float = Field(
        24, gt=0, le=24 * 30, description="removals applied without approval count this long (slow leaks)"
    )
    baseline_days: float = Field(
        7, gt=0, le=90, description="the collapse baseline: the largest healthy count over this many days"
    )
    collapse_ratio: float = Field(
        0.5, gt=0, le=1, description="a relation below this share of its baseline holds every removal"
    )


class RunLease(StrictModel):
    """One run of an app at a time (scheduled, manual, backfill, a retried task): the lease."""

    ttl_minutes: float = Field(
        15, gt=0, le=24 * 60, description="a lease its holder stops renewing (a lost worker) frees after this"
    )
    wait_seconds: float = Field(
        60, ge=0, le=3600, description="a second run waits this long for the lease, then is skipped"
    )


class QuarantinePolicy(StrictModel):
    failure_ratio: float = Field(
        0.4, gt=0, le=1, description="a cycle whose failed share of actions exceeds this quarantines the app"
    )
    min_actions: int = Field(10, ge=1, description="the ratio counts only from this many attempted actions")


class Timeouts(StrictModel):
    """Bounds on a hung step and a hung run: Airflow fails them, so the failure alerts fire."""

    task_minutes: int = Field(30, gt=0, le=24 * 60, description="each step's execution_timeout")
    run_minutes: int = Field(60, gt=0, le=7 * 24 * 60, description="the DAG run's dagrun_timeout")

    @property
    def task(self) -> timedelta:
        return timedelta(minutes=self.task_minutes)

    @property
    def run(self) -> timedelta:
        return timedelta(minutes=self.run_minutes)
