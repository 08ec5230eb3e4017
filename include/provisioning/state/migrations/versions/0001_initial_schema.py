"""The schema of the first release with migrations, and the adoption of stores made before it.

Revision ID: 0001
Revises: -
Create Date: 2026-12-01

A fresh store gets these tables. A store made by a release before migrations (tables created at
first use, never versioned) is recognised by its tables and brought to this schema in place: the
tables and indexes it lacks are created, the nullable columns later releases added are added, and
on PostgreSQL the id and name columns that were VARCHAR become TEXT (the manual steps earlier
release notes listed). Its links, members and escrow are kept, so no account is duplicated or
forgotten. Alembic then stamps it 0001.

The tables are written out here, not imported from ``state/tables.py``: a migration is history and
must not change when the live schema does (a test checks that the migrations end at tables.py).
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("provisioning.state.migrations")
SCHEMA = sa.MetaData()

sa.Table(
    "alerts",
    SCHEMA,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("app", sa.String(length=64), nullable=False),
    sa.Column("cycle_id", sa.String(length=256), nullable=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(length=32), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_alerts_app_time", "app", "time"),
)

sa.Table(
    "app_status",
    SCHEMA,
    sa.Column("app", sa.String(length=64), nullable=False),
    sa.Column("quarantined", sa.Boolean(), nullable=False),
    sa.Column("quarantine_reason", sa.Text(), nullable=True),
    sa.Column("quarantine_level", sa.Integer(), nullable=False),
    sa.Column("quarantined_since", sa.DateTime(timezone=True), nullable=True),
    sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("app"),
)

sa.Table(
    "artifacts",
    SCHEMA,
    sa.Column("app", sa.String(length=64), nullable=False),
    sa.Column("cycle_id", sa.String(length=256), nullable=False),
    sa.Column("name", sa.String(length=64), nullable=False),
    sa.Column("data", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("app", "cycle_id", "name"),
)

sa.Table(
    "cycles",
    SCHEMA,
    sa.Column("app", sa.String(length=64), nullable=False),
    sa.Column("cycle_id", sa.String(length=256), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("summary", sa.JSON(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("error_code", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("app", "cycle_id"),
)

sa.Table(
    "directory_health",
    SCHEMA,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("app", sa.String(length=64), nullable=False),
    sa.Column("cycle_id", sa.String(length=256), nullable=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("counts", sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_health_app_time", "app", "time"),
)

sa.Table(
    "escrow",
    SCHEMA,
    sa.Column("app", sa.String(length=64), nullable=False),
    sa.Column("object_type", sa.String(length=16), nullable=False),
    sa.Column("source_id", sa.Text(), nullable=False),
    sa.Column("display", sa.Text(), nullable=True),
    sa.Column("failures", sa.Integer(), nullable=False),
    sa.Column("permanent", sa.Boolean(), nullable=False),
    sa.Column("fingerprint", sa.String(length=64), nullable=False),
    sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("error_code", sa.Text(), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("app", "object_type", "source_id"),
)

sa.Table(
    "held_changes",
    SCHEMA,
    sa.Column("app", sa.String(length=64), nullable=False),
    sa.Column("object_type", sa.String(length=16), nullable=False),
    sa.Column("source_id", sa.String(length=128), nullable=False),
    sa.Column("action", sa.String(length=16), nullable=False),
    sa.Column("member_id", sa.String(length=128), nullable=False),
    sa.Column("first_held_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("first_held_cycle", sa.String(length=256), nullable=False),
    sa.PrimaryKeyConstraint("app", "object_type", "source_id", "action", "member_id"),
)

sa.Table(
    "holds",
    SCHEMA,
    sa.Column("app", sa.String(length=64), nullable=False),
    sa.Column("cycle_id", sa.String(length=256), nullable=False),
    sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("counts", sa.JSON(), nullable=False),
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("approved_by", sa.Text(), nullable=True),
    sa.Column("approving_cycle", sa.String(length=256), nullable=True),
    sa.PrimaryKeyConstraint("app", "cycle_id"),
)

sa.Table(
    "leases",
    SCHEMA,
    sa.Column("app", sa.String(length=64), nullable=False),
    sa.Column("holder", sa.String(length=256), nullable=False),
    sa.Column("token", sa.Integer(), nullable=False),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("app"),
)

sa.Table(
    "links",
    SCHEMA,
    sa.Column("app", sa.String(length=64), nullable=False),
    sa.Column("object_type", sa.String(length=16), nullable=False),
    sa.Column("source_id", sa.Text(), nullable=False),
    sa.Column("target_id", sa.Text(), nullable=False),
    sa.Column("matched_by", sa.Text(), nullable=False),
    sa.Column("attributes", sa.JSON(), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=True),
    sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("endpoint", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("app", "object_type", "source_id"),
    sa.Index("ux_links_target", "app", "object_type", "target_id", unique=True),
)

sa.Table(
    "members",
    SCHEMA,
    sa.Column("app", sa.String(length=64), nullable=False),
    sa.Column("group_source_id", sa.Text(), nullable=False),
    sa.Column("member_source_id", sa.Text(), nullable=False),
    sa.Column("member_target_id", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("app", "group_source_id", "member_source_id"),
)

sa.Table(
    "notifications",
    SCHEMA,
    sa.Column("app", sa.String(length=64), nullable=False),
    sa.Column("problem", sa.String(length=32), nullable=False),
    sa.Column("open", sa.Boolean(), nullable=False),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_sent", sa.DateTime(timezone=True), nullable=True),
    sa.Column("times_sent", sa.Integer(), nullable=False),
    sa.Column("message", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("app", "problem"),
)

sa.Table(
    "outbox",
    SCHEMA,
    sa.Column("change_id", sa.String(length=32), nullable=False),
    sa.Column("app", sa.String(length=64), nullable=False),
    sa.Column("cycle_id", sa.String(length=256), nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("phase", sa.Integer(), nullable=False),
    sa.Column("object_type", sa.String(length=16), nullable=False),
    sa.Column("source_id", sa.Text(), nullable=False),
    sa.Column("display", sa.Text(), nullable=False),
    sa.Column("target_id", sa.Text(), nullable=True),
    sa.Column("action", sa.String(length=16), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=True),
    sa.Column("attributes", sa.JSON(), nullable=True),
    sa.Column("active", sa.Boolean(), nullable=True),
    sa.Column("modified", sa.JSON(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("approved_by", sa.Text(), nullable=True),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("error_code", sa.Text(), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("change_id"),
    sa.Index("ix_outbox_cycle", "app", "cycle_id", "status"),
    sa.Index("ix_outbox_open", "app", "status"),
)

sa.Table(
    "provisioning_log",
    SCHEMA,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("change_id", sa.String(length=32), nullable=False),
    sa.Column("app", sa.String(length=64), nullable=False),
    sa.Column("cycle_id", sa.String(length=256), nullable=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("object_type", sa.String(length=16), nullable=False),
    sa.Column("source_id", sa.Text(), nullable=False),
    sa.Column("source_display", sa.Text(), nullable=True),
    sa.Column("target_id", sa.Text(), nullable=True),
    sa.Column("action", sa.String(length=16), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("modified_properties", sa.JSON(), nullable=True),
    sa.Column("detail", sa.Text(), nullable=True),
    sa.Column("error_code", sa.Text(), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("duration_ms", sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("change_id"),
    sa.Index("ix_log_app_id", "app", "id"),
    sa.Index("ix_log_app_source", "app", "source_id"),
    sa.Index("ix_log_app_time", "app", "time"),
    sa.Index("ix_log_cycle", "app", "cycle_id"),
)

sa.Table(
    "refused_filters",
    SCHEMA,
    sa.Column("app", sa.String(length=64), nullable=False),
    sa.Column("object_type", sa.String(length=16), nullable=False),
    sa.Column("attribute", sa.String(length=256), nullable=False),
    sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("app", "object_type", "attribute"),
)

sa.Table(
    "retired_links",
    SCHEMA,
    sa.Column("app", sa.String(length=64), nullable=False),
    sa.Column("object_type", sa.String(length=16), nullable=False),
    sa.Column("source_id", sa.Text(), nullable=False),
    sa.Column("endpoint", sa.Text(), nullable=False),
    sa.Column("target_id", sa.Text(), nullable=False),
    sa.Column("matched_by", sa.Text(), nullable=False),
    sa.Column("attributes", sa.JSON(), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=True),
    sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("app", "object_type", "source_id", "endpoint"),
)


def upgrade() -> None:
    bind = op.get_bind()
    found = set(sa.inspect(bind).get_table_names())
    if found & set(SCHEMA.tables):
        _adopt(bind, found)
    else:
        SCHEMA.create_all(bind)


def downgrade() -> None:
    SCHEMA.drop_all(op.get_bind())


def _adopt(bind: sa.Connection, found: set[str]) -> None:
    """Bring an unversioned store from an earlier release to this schema, keeping its rows."""
    inspector = sa.inspect(bind)
    for table in SCHEMA.sorted_tables:
        if table.name not in found:
            table.create(bind)
            log.info("adopted store: created table %s", table.name)
            continue
        columns = {c["name"]: c for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in columns:
                _add_column(table, column)
            elif (
                bind.dialect.name == "postgresql"
                and isinstance(column.type, sa.Text)
                and isinstance(columns[column.name]["type"], sa.String)
                and not isinstance(columns[column.name]["type"], sa.Text)
            ):
                op.alter_column(table.name, column.name, type_=sa.Text())
                log.info("adopted store: %s.%s is now text", table.name, column.name)
        indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                index.create(bind)
                log.info("adopted store: created index %s", index.name)


# columns added by earlier releases that are NOT NULL: the value existing rows get
BACKFILL = {("outbox", "phase"): "0"}


def _add_column(table: sa.Table, column: sa.Column) -> None:
    backfill = BACKFILL.get((table.name, column.name))
    if not column.nullable and backfill is None:
        raise RuntimeError(
            f"the existing state store lacks {table.name}.{column.name}, which has no value for old "
            "rows: it was not made by a release of this product"
        )
    op.add_column(
        table.name, sa.Column(column.name, column.type, nullable=column.nullable, server_default=backfill)
    )
    log.info("adopted store: added column %s.%s", table.name, column.name)
