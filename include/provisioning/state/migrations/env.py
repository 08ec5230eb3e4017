"""Alembic's entry point, run by ``provisioning.state.schema``: always on the connection that module
hands over (``config.attributes["connection"]``), never from an ini file or a URL of its own.

On PostgreSQL the whole upgrade runs in one transaction that first takes an advisory lock, so
two ``db upgrade`` commands started at once (two deploy jobs, say) run one after the other and the
second finds nothing to do.
"""

from alembic import context
from sqlalchemy import text

from provisioning.state.tables import metadata

UPGRADE_LOCK = 0x70726F76  # "prov": any constant shared by every upgrader of a store

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK})
    context.run_migrations()
