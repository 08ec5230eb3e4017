"""Every read of the directory a cycle makes, and what it refuses in the answer, whatever the source.

A source (connectors/directory/) only reads; what no cycle may act on is refused here, above
them all, so a new source inherits it: repeated user ids (which row is the user is unknowable)
and a directory that returned no users while accounts are linked (a broken connection or view,
not everyone leaving). Row-level problems, such as a null id, are each that row's own and are
reported per user by the engine (engine/desired.py); a directory that shrank below its healthy
baseline holds every removal in the diff (cycle/removals.py).
"""

from __future__ import annotations

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
