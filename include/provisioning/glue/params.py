"""The trigger params of every provisioning DAG. Airflow validates them against their JSON schema
in the trigger form, before a run is created, so a typo never reaches a cycle."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from provisioning.cycle.options import RESTART_MODES, RunOptions

MAX_ON_DEMAND = 50  # objects per on-demand run: a targeted fix, not a way around the schedule


def _names(what: str) -> Param:
    return Param(
        [],
        type="array",
        items={"type": "string", "minLength": 1, "maxLength": 256},
        maxItems=MAX_ON_DEMAND,
        uniqueItems=True,
        title=f"Provision on demand: {what}",
        description=f"Only these directory {what} are planned and applied (up to {MAX_ON_DEMAND}); "
        "nobody else is created, changed or disabled. Each user's preview steps are written to the "
        "provisioning log. Leave empty for a full cycle.",
    )


def dag_params() -> dict[str, Param]:
    return {
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Run the cycle up to the plan and write nothing to the app or the state store: "
            "the report and the provisioning log (status dry_run) show what would have happened.",
        ),
        "users": _names("users (id or userName)"),
        "groups": _names("groups (id or displayName)"),
        "full_reconcile": Param(
            False,
            type="boolean",
            title="Full reconcile",
            description="Read every account and group of the app and correct drift: changes made "
            "directly in the app are put back to what the directory says.",
        ),
        "allow_deletions": Param(
            False,
            type="boolean",
            title="Approve the latest held removals",
            description="Apply the disables, deletes and member removals the accidental-deletion guard "
            "held in its latest hold, if still planned (logged with who triggered the run). New "
            "removals are checked afresh.",
        ),
        "approve": Param(
            "",
            type="string",
            maxLength=256,
            title="Approve the removals held by cycle",
            description="The run id of the cycle that held them (in the alert and on the Provisioning "
            "page): applies exactly that held set, if still planned. Anything held later is not approved.",
        ),
        "restart": Param(
            "none",
            type="string",
            enum=list(RESTART_MODES),
            title="Restart",
            description="escrow: retry failed objects now; quarantine: leave quarantine now; watermark: "
            "re-read the app as the baseline (a full reconcile); all: the three; full_reset: all, "
            "and match every linked object again instead of trusting stored app ids; relink: the app "
            "moved to another base URL or tenant: retire the old endpoint's links and match again there.",
        ),
    }


def run_options(params: dict[str, Any], triggered_by: str | None) -> RunOptions:
    return RunOptions(
        allow_deletions=bool(params.get("allow_deletions")),
        approve=(params.get("approve") or "").strip() or None,
        restart=params.get("restart") or "none",
        dry_run=bool(params.get("dry_run")),
        full_reconcile=bool(params.get("full_reconcile")),
        users=tuple(params.get("users") or ()),
        groups=tuple(params.get("groups") or ()),
        triggered_by=triggered_by,
    )
