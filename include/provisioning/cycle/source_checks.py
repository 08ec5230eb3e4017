"""Every read of the directory a cycle makes, and what it refuses in the answer, whatever the source.

A source (connectors/directory/) only reads; what no cycle may act on is refused here, above
them all, so a new source inherits it: repeated user ids (which row is the user is unknowable)
and a directory that returned no users while accounts are linked (a broken connection or view,
not everyone leaving). A source that expects its size to hold steady (an HR export, whose
truncation looks like a wave of leavers) sets ``min_users_ratio``: fewer users than that share of
the last healthy cycle's count is refused too. Row-level problems, such as a null id, are each
that row's own and are reported per user by the engine (engine/desired.py); a directory that
shrank below its healthy baseline holds every removal in the diff (cycle/removals.py).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from provisioning.connectors.directory.base import DirectoryError, DirectorySnapshot
from provisioning.cycle.context import CycleContext


def read_directory(ctx: CycleContext) -> DirectorySnapshot:
    """The app's directory as its source returned it, once the checks above every source passed."""
    source = ctx.open_directory()
    directory = ctx.config.directory
    snapshot = source.read(directory.extra_user_attributes, directory.extra_group_attributes)
    refuse_repeated_ids(snapshot.users, source.relations["users"])
    refuse_emptied(snapshot.users, ctx.store.count_links(ctx.app), ctx.app)
    if source.min_users_ratio:
        refuse_shrunk(
            len(snapshot.users),
            source.min_users_ratio,
            ctx.store.holds.latest_health(ctx.app),
            source.relations["users"],
        )
    return snapshot


def refuse_repeated_ids(users: pd.DataFrame, relation: str) -> None:
    """Repeated ids stop the read: which row is the user is unknowable. A null id is that row's
    problem only, reported per user by the engine (desired_users)."""
    ids = users["id"].dropna()
    duplicated = ids[ids.duplicated()]
    if not duplicated.empty:
        sample = ", ".join(map(str, duplicated.head(5)))
        raise DirectoryError(f"directory relation {relation!r} repeats id(s) {sample}: ids must be unique")


def refuse_emptied(users: pd.DataFrame, linked: int, app: str) -> None:
    """No users while accounts are linked is a broken source, not everyone leaving."""
    if users.empty and linked:
        raise DirectoryError(
            f"the directory returned no users while {linked} accounts are linked in {app}: refusing "
            "to treat everyone as gone (check the directory connection and its users relation)"
        )


def refuse_shrunk(count: int, min_ratio: float, last: dict[str, Any] | None, relation: str) -> None:
    """Far fewer users than the last healthy read is a cut or filtered source, not a wave of
    leavers: refused before the diff could plan their removal. The count only moves with healthy
    cycles, so a refused read is compared with the same count again next time."""
    if last is None or "users" not in last["counts"]:
        return
    before = last["counts"]["users"]
    if count < min_ratio * before:
        raise DirectoryError(
            f"{relation} has {count} users, fewer than {min_ratio:.0%} of the {before} of the last "
            f"healthy cycle ({last['cycle_id']}, {last['time']:%Y-%m-%d %H:%M} UTC): refusing it as "
            "truncated. If the drop is real, lower directory.min_rows_ratio for one run (0 turns the "
            "check off)"
        )
