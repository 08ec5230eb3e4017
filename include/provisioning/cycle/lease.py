"""The run lease and the endpoint check as the steps use them.

``match``, ``diff`` and ``apply`` each take the app's lease (a retried attempt of the same run
takes it over with a new token); a second run waits for it, then is skipped with a message that
names the holder. The partitions of a partitioned apply join the run's lease and each take a token
of their own. ``apply`` releases it when done and ``report`` releases it whatever happened.
A dry run writes nothing and takes no lease.

Before anything is written, the links must belong to the endpoint the connection points at now:
ids made in another base URL or tenant would address other people's accounts there.
"""

from __future__ import annotations

import time
from datetime import timedelta

from provisioning.cycle.context import CycleContext
from provisioning.cycle.guards import CycleRefused, skip_cycle
from provisioning.engine.partitions import Partition
from provisioning.state.leases import Lease

POLL_SECONDS = 1.0


def acquire(ctx: CycleContext, partition: Partition | None = None) -> Lease | None:
    if ctx.options.dry_run:
        return None
    policy = ctx.config.lease
    ttl = timedelta(minutes=policy.ttl_minutes)
    deadline = time.monotonic() + policy.wait_seconds
    leases = ctx.store.leases
    while True:
        if partition is None:
            lease = leases.try_acquire(ctx.app, ctx.cycle_id, ttl)
        else:
            lease = leases.try_acquire_partition(ctx.app, ctx.cycle_id, partition.index, partition.count, ttl)
        if lease is not None:
            return lease
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)
    holder = ctx.store.leases.holder(ctx.app) or {}
    reason = (
        f"another run of {ctx.app} ({holder.get('holder')}) holds the run lease until "
        f"{holder.get('expires_at'):%Y-%m-%d %H:%M:%S} UTC; waited {policy.wait_seconds:g} s. "
        "This run is skipped so the two cannot plan the same changes; trigger it again later"
    )
    skip_cycle(ctx, reason)


def release(ctx: CycleContext) -> None:
    if not ctx.options.dry_run:
        ctx.store.leases.release(ctx.app, ctx.cycle_id)


def check_endpoint(ctx: CycleContext, endpoint: str) -> None:
    """Refuse to write when the app's links were made in another endpoint than ``endpoint``."""
    made_in = ctx.store.endpoints(ctx.app)
    if None in made_in and not ctx.options.dry_run:
        ctx.store.adopt_endpoint(ctx.app, endpoint)  # links from before endpoints were recorded
    elsewhere = {e: n for e, n in made_in.items() if e is not None and e != endpoint}
    if elsewhere:
        where = ", ".join(f"{n} in {e}" for e, n in elsewhere.items())
        raise CycleRefused(
            f"{ctx.app}: the connection {ctx.config.target.conn_id} now points at {endpoint}, but the "
            f"app's links were made elsewhere ({where}). Nothing was written: their ids would address "
            "other accounts there. If the app really moved, trigger once with restart=relink: the old "
            "links retire, every object is matched again in the new endpoint (links once made there "
            "come back) and a full reconcile checks it; otherwise restore the connection"
        )
    retired, when = ctx.store.retired_from(ctx.app, endpoint)
    if retired:
        # the links kept now miss every object made here that is out of scope since: a run would
        # never disable those accounts
        raise CycleRefused(
            f"{ctx.app}: the connection {ctx.config.target.conn_id} points at {endpoint}, but a relink "
            f"at {when:%Y-%m-%d %H:%M:%S} UTC moved the app away from it and retired the {retired} "
            "link(s) made there. Nothing was written: without them, accounts made there that left scope "
            "since would never be disabled. If the app is back there, trigger once with restart=relink "
            "(the links made there come back); otherwise point the connection at the app's new endpoint"
        )
