"""The safety rules of docs/lifecycle.md as a cycle applies them: quarantine (skip, enter, leave,
restart) and escrow (hold objects until their retry time). The decisions themselves are
engine/safety.py; the accidental-deletion guard is cycle/removals.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NoReturn

from provisioning.connectors.errors import ConnectorError
from provisioning.cycle.context import CycleContext
from provisioning.engine.plan import PlannedAction
from provisioning.engine.safety import decide_quarantine, quarantine_delay
from provisioning.state.escrow import action_fingerprint


class CycleSkipped(Exception):
    """The cycle must not run now (quarantine, another run holds the lease); the run is skipped."""


class CycleRefused(RuntimeError):
    """Running would do harm and retrying cannot change that (e.g. the links belong to another
    endpoint): the step fails at once, without Airflow retries, and the alert says what to do."""


def now() -> datetime:
    return datetime.now(UTC)


def record_failure(ctx: CycleContext, step: str, exc: Exception) -> None:
    """A step raised: remember it on the cycle so that report counts the cycle failed and, when the
    app refused us (credentials, protocol), quarantines it."""
    refused = isinstance(exc, ConnectorError) and exc.stops_cycle
    code = "app_refused" if refused else "cycle_refused" if isinstance(exc, CycleRefused) else "step_failed"
    ctx.store.record_cycle_error(ctx.app, ctx.cycle_id, code, f"{step}: {exc}")


def check_quarantine(ctx: CycleContext) -> None:
    """Skip the cycle while the app is quarantined and its retry time has not come, unless the run
    restarts it. A dry run neither skips nor clears anything: it only reads, and is how an operator
    checks a quarantined app before releasing it."""
    if ctx.options.dry_run:
        return
    status = ctx.store.app_status(ctx.app)
    if ctx.options.restart != "none":
        _restart(ctx, status)
    if ctx.options.clears_quarantine or not status["quarantined"]:
        return
    if status["retry_at"] and status["retry_at"] > now():
        reason = (
            f"{ctx.app} is in quarantine since {status['quarantined_since']:%Y-%m-%d %H:%M} UTC "
            f"({status['quarantine_reason']}); next attempt after {status['retry_at']:%Y-%m-%d %H:%M} UTC. "
            "Fix the cause, then trigger with restart=quarantine (or all) to retry now."
        )
        skip_cycle(ctx, reason)


def skip_cycle(ctx: CycleContext, reason: str) -> NoReturn:
    """End the cycle as skipped (quarantine, another run's lease): the glue marks the run skipped."""
    ctx.store.finish_cycle(ctx.app, ctx.cycle_id, "skipped", {"status": "skipped", "reason": reason})
    raise CycleSkipped(reason)


def _restart(ctx: CycleContext, status: dict[str, Any]) -> None:
    options = ctx.options
    done = []
    if options.clears_quarantine:
        ctx.store.update_app_status(ctx.app, quarantined=False, quarantine_level=0, retry_at=None)
        was = f" (was: {status['quarantine_reason']})" if status["quarantined"] else ""
        done.append(f"quarantine cleared{was}")
    if options.clears_escrow:
        done.append(f"{ctx.store.clear_escrow(ctx.app)} object(s) released from escrow")
    if options.reads_app:
        done.append("baseline re-read from the app")
    if options.relinks:
        done.append("every object matched again")
    if options.relinks_endpoint:
        done.append("links moved to the endpoint the connection points at now (see the relink alert)")
    who = options.triggered_by or "unknown"
    ctx.store.add_alert(
        ctx.app, ctx.cycle_id, "restart", f"restarted by {who} (restart={options.restart}): {', '.join(done)}"
    )


def hold_escrowed(ctx: CycleContext, actions: list[PlannedAction]) -> tuple[list[PlannedAction], int]:
    """Objects in escrow wait for their retry time -- unless their data changed since the failure
    (a fixed value deserves an immediate try)."""
    escrow = ctx.store.escrow(ctx.app)
    if not escrow or ctx.options.clears_escrow:  # a dry run shows what a restart would send
        return actions, 0
    current = now()
    kept = []
    for action in actions:
        entry = escrow.get((action.object_type, action.source_id))
        if (
            entry is not None
            and entry["next_retry_at"] > current
            and entry["fingerprint"] == action_fingerprint(action.object_type, action.action, action.payload)
        ):
            continue
        kept.append(action)
    return kept, len(actions) - len(kept)


def update_quarantine(
    ctx: CycleContext, attempted: int, failed: int, cycle: dict[str, Any]
) -> dict[str, Any]:
    policy = ctx.config.quarantine
    status = ctx.store.app_status(ctx.app)
    app_error = cycle.get("error") if cycle.get("error_code") == "app_refused" else None
    decision = decide_quarantine(
        attempted=attempted,
        failed=failed,
        app_error=app_error,
        failure_ratio=policy.failure_ratio,
        min_actions=policy.min_actions,
    )
    current = now()
    if decision.quarantine:
        level = status["quarantine_level"] + 1 if status["quarantined"] else 1
        retry_at = current + quarantine_delay(level)
        ctx.store.update_app_status(
            ctx.app,
            quarantined=True,
            quarantine_level=level,
            quarantine_reason=decision.reason,
            quarantined_since=status["quarantined_since"] if status["quarantined"] else current,
            retry_at=retry_at,
        )
        if not status["quarantined"]:
            ctx.store.add_alert(
                ctx.app, ctx.cycle_id, "quarantine", f"{ctx.app} entered quarantine: {decision.reason}"
            )
        return {
            "quarantined": True,
            "reason": decision.reason,
            "level": level,
            "retry_at": retry_at.isoformat(),
        }
    if status["quarantined"] and (attempted or not cycle.get("error")):
        ctx.store.update_app_status(ctx.app, quarantined=False, quarantine_level=0, retry_at=None)
        ctx.store.add_alert(ctx.app, ctx.cycle_id, "quarantine_left", f"{ctx.app} left quarantine")
    return {"quarantined": False}
