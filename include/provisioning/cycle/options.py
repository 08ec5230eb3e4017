"""What the operator asked of a run (the DAG's trigger params), as the cycle understands it.

Kept free of heavy imports: the DAG factory reads ``RESTART_MODES`` when Airflow parses DAG files.
"""

from __future__ import annotations

from dataclasses import dataclass

# What ``restart`` clears. ``watermark`` is our diff baseline (what we last applied): clearing it
# means reading the app's actual objects instead, i.e. a full reconcile. ``full_reset`` also
# re-checks which app object each directory object is linked to, matching everything again.
# ``relink`` is for an app that really moved (another base URL or tenant): the links of the old
# endpoint retire, those once made in the new one come back, and a full reconcile matches and
# verifies everything there.
RESTART_MODES = ("none", "escrow", "quarantine", "watermark", "all", "full_reset", "relink")


class InvalidRunOptions(ValueError):
    """The params ask for something this app or directory cannot do; retrying will not help."""


@dataclass(frozen=True)
class RunOptions:
    """What the operator asked for when triggering the run (Airflow params)."""

    allow_deletions: bool = False  # approve the latest set of removals the guard held
    approve: str | None = None  # approve the set of removals held by this cycle (its run id)
    restart: str = "none"  # one of RESTART_MODES
    dry_run: bool = False  # plan and log what would happen; write nothing to the app or the state
    full_reconcile: bool = False  # read the app's objects as the baseline and correct drift
    users: tuple[str, ...] = ()  # provision on demand: only these directory users (id or userName)
    groups: tuple[str, ...] = ()  # ... and/or only these directory groups (id or displayName)
    triggered_by: str | None = None  # recorded with approvals and restarts

    def __post_init__(self) -> None:
        if self.restart not in RESTART_MODES:
            raise ValueError(f"restart must be one of {', '.join(RESTART_MODES)}, not {self.restart!r}")

    @property
    def approves(self) -> bool:
        return self.allow_deletions or bool(self.approve)

    @property
    def clears_escrow(self) -> bool:
        return self.restart in ("escrow", "all", "full_reset", "relink")

    @property
    def clears_quarantine(self) -> bool:
        return self.restart in ("quarantine", "all", "full_reset", "relink")

    @property
    def reads_app(self) -> bool:
        """Whether match reads every object of the app to refresh the baseline (drift)."""
        return self.full_reconcile or self.restart in ("watermark", "all", "full_reset", "relink")

    @property
    def relinks(self) -> bool:
        return self.restart == "full_reset"

    @property
    def relinks_endpoint(self) -> bool:
        return self.restart == "relink"

    @property
    def on_demand(self) -> bool:
        return bool(self.users or self.groups)
