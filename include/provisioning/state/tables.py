"""State store tables. SQLite by default, PostgreSQL in production: portable types only."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# directory id <-> app id, how it was matched, and the attributes last applied (the diff baseline)
links = Table(
    "links",
    metadata,
    Column("app", String(64), primary_key=True),
    Column("object_type", String(16), primary_key=True),
    Column("source_id", String(128), primary_key=True),
    Column("target_id", String(256), nullable=False),
    Column("matched_by", String(256), nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ux_links_target", "app", "object_type", "target_id", unique=True),
)

cycles = Table(
    "cycles",
    metadata,
    Column("app", String(64), primary_key=True),
    Column("cycle_id", String(256), primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),
    Column("summary", JSON),
)

# the plan of each cycle; an action's status moves pending -> in_flight -> succeeded/failed
outbox = Table(
    "outbox",
    metadata,
    Column("change_id", String(32), primary_key=True),
    Column("app", String(64), nullable=False),
    Column("cycle_id", String(256), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("object_type", String(16), nullable=False),
    Column("source_id", String(128), nullable=False),
    Column("display", String(256), nullable=False),
    Column("target_id", String(256)),
    Column("action", String(16), nullable=False),
    Column("payload", JSON),
    Column("attributes", JSON),
    Column("active", Boolean),
    Column("modified", JSON),
    Column("reason", Text),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Index("ix_outbox_cycle", "app", "cycle_id", "status"),
    Index("ix_outbox_open", "app", "status"),
)

provisioning_log = Table(
    "provisioning_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("change_id", String(32), nullable=False, unique=True),
    Column("app", String(64), nullable=False),
    Column("cycle_id", String(256), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("object_type", String(16), nullable=False),
    Column("source_id", String(128), nullable=False),
    Column("source_display", String(256)),
    Column("target_id", String(256)),
    Column("action", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("modified_properties", JSON),
    Column("detail", Text),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("duration_ms", Float),
    Index("ix_log_app_time", "app", "time"),
    Index("ix_log_app_source", "app", "source_id"),
    Index("ix_log_cycle", "app", "cycle_id"),
)

# data handed from one task to the next (desired state), reachable from every worker
artifacts = Table(
    "artifacts",
    metadata,
    Column("app", String(64), primary_key=True),
    Column("cycle_id", String(256), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
