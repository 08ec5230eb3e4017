"""The state store's schema version: upgraded only by ``provisioning db upgrade`` (Alembic), checked
by everything else before use.

Cycle steps and the Provisioning page never create or alter tables: two tasks starting at once on a
fresh install would race to create them, and a worker running a newer or older release than the
store would write rows the other release misreads. They call ``require_current`` and stop with a
message that names the command to run.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")
# Alembic says at INFO which dialect it found, on every check: noise in each task's log (and in the
# output of commands such as `provisioning preview --json`); `db upgrade` prints its own summary
logging.getLogger("alembic").setLevel(logging.WARNING)


class StateStoreNotReady(RuntimeError):
    """The store's schema is missing, behind or ahead of this release: an operator must act."""


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@cache
def head_revision() -> str:
    """The revision this release's code reads and writes."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, f"no migrations in {MIGRATIONS}"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the store to this release's revision (or an earlier ``revision``); returns (revision
    before, revision after).

    A store made by a release before migrations has tables but no version: the first revision
    recognises it, adds what that release lacked, and stamps it."""
    before = current_revision(engine)
    with engine.begin() as conn:
        config = _config()
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return before, current_revision(engine)


_verified: set[str] = set()


def require_current(engine: Engine) -> None:
    """Refuse a store this release cannot use; checked once per process and store."""
    key = engine.url.render_as_string(hide_password=True)
    if key in _verified:
        return
    found, head = current_revision(engine), head_revision()
    if found != head:
        history = ScriptDirectory.from_config(_config())
        if found is None:
            state = "has no schema version (new, or made by a release before migrations)"
        elif found in {s.revision for s in history.walk_revisions()}:
            state = f"is at schema revision {found}, behind this release's {head}"
        else:
            raise StateStoreNotReady(
                f"state store {key} is at schema revision {found}, which this release does not know "
                f"(it was upgraded by a newer release): install that release on this worker too"
            )
        raise StateStoreNotReady(
            f"state store {key} {state}: run `provisioning db upgrade` once (with no run in "
            "progress) before starting the scheduler and workers"
        )
    _verified.add(key)
