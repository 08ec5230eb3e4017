"""State store tables. SQLite by default, PostgreSQL in production: portable types only.

Values that come from the directory or the app (ids, names, error codes) are Text: a VARCHAR(n)
on PostgreSQL refuses a longer value and fails the whole step. The store bounds them instead, per
object (bounds.py: ids over MAX_ID_LENGTH are refused, messages are truncated with a marker).
"""

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
    Column("source_id", Text, primary_key=True),
    Column("target_id", Text, nullable=False),
    Column("matched_by", Text, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("active", Boolean),  # NULL: the app's record has no active, so the state is unknown
    Column(
        "disabled_at", DateTime(timezone=True)
    ),  # when we disabled it (delete_after_days counts from here)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # the app endpoint (base URL and tenant) the link was made in: its ids mean nothing elsewhere
    Column("endpoint", Text),
    Index("ux_links_target", "app", "object_type", "target_id", unique=True),
)

# links of an endpoint the app moved away from (restart=relink): restored, and verified by a full
# reconcile, if the app moves back -- the objects there are still ours to keep in step
retired_links = Table(
    "retired_links",
    metadata,
    Column("app", String(64), primary_key=True),
    Column("object_type", String(16), primary_key=True),
    Column("source_id", Text, primary_key=True),
    Column("endpoint", Text, primary_key=True),
    Column("target_id", Text, nullable=False),
    Column("matched_by", Text, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("active", Boolean),
    Column("disabled_at", DateTime(timezone=True)),
    Column("retired_at", DateTime(timezone=True), nullable=False),
)

# the members of each provisioned group as last applied: the baseline of member add/remove
members = Table(
    "members",
    metadata,
    Column("app", String(64), primary_key=True),
    Column("group_source_id", Text, primary_key=True),
    Column("member_source_id", Text, primary_key=True),
    Column("member_target_id", Text, nullable=False),
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
    Column("error", Text),  # a step that failed outright (directory unreadable, app refused us)
    Column("error_code", Text),
)

# the plan of each cycle; an action's status moves pending -> in_flight -> succeeded/failed,
# or stays staged (held by the accidental-deletion threshold) until a later plan supersedes it
outbox = Table(
    "outbox",
    metadata,
    Column("change_id", String(32), primary_key=True),
    Column("app", String(64), nullable=False),
    Column("cycle_id", String(256), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("phase", Integer, nullable=False, default=0),  # users, then groups, then memberships
    Column("object_type", String(16), nullable=False),
    Column("source_id", Text, nullable=False),
    Column("display", Text, nullable=False),
    Column("target_id", Text),
    Column("action", String(16), nullable=False),
    Column("payload", JSON),
    Column("attributes", JSON),
    Column("active", Boolean),
    Column("modified", JSON),
    Column("reason", Text),
    Column("approved_by", Text),  # a removal an operator approved: not counted in the rolling window
    Column("lifecycle", String(8)),  # joiner | mover | leaver (engine/lifecycle.py), for the log
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error_code", Text),
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
    Column("source_id", Text, nullable=False),
    Column("source_display", Text),
    Column("target_id", Text),
    Column("action", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("modified_properties", JSON),
    Column("detail", Text),
    Column("error_code", Text),
    Column("error_message", Text),
    Column("duration_ms", Float),
    Column("lifecycle", String(8)),  # joiner | mover | leaver
    Index("ix_log_app_time", "app", "time"),
    Index("ix_log_app_id", "app", "id"),  # the page's newest-first keyset paging per app
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

# objects whose last action failed, and when they may be tried again (Entra's escrow)
escrow = Table(
    "escrow",
    metadata,
    Column("app", String(64), primary_key=True),
    Column("object_type", String(16), primary_key=True),
    Column("source_id", Text, primary_key=True),
    Column("display", Text),
    Column("failures", Integer, nullable=False),
    Column("permanent", Boolean, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("first_failed_at", DateTime(timezone=True), nullable=False),
    Column("last_failed_at", DateTime(timezone=True), nullable=False),
    Column("next_retry_at", DateTime(timezone=True), nullable=False),
    Column("error_code", Text),
    Column("error_message", Text),
)

# per app: quarantine
app_status = Table(
    "app_status",
    metadata,
    Column("app", String(64), primary_key=True),
    Column("quarantined", Boolean, nullable=False, default=False),
    Column("quarantine_reason", Text),
    Column("quarantine_level", Integer, nullable=False, default=0),
    Column("quarantined_since", DateTime(timezone=True)),
    Column("retry_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("app", String(64), nullable=False),
    Column("cycle_id", String(256), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_alerts_app_time", "app", "time"),
)

# per app and problem: whether an alert about it is open and when it was last sent (no storms)
notifications = Table(
    "notifications",
    metadata,
    Column("app", String(64), primary_key=True),
    Column("problem", String(32), primary_key=True),
    Column("open", Boolean, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_sent", DateTime(timezone=True)),
    Column("times_sent", Integer, nullable=False, default=0),
    Column("message", Text),
)


# every cycle that held removals for approval; an approval names one and applies its held set
holds = Table(
    "holds",
    metadata,
    Column("app", String(64), primary_key=True),
    Column("cycle_id", String(256), primary_key=True),
    Column("held_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("counts", JSON, nullable=False),  # object type -> removals held
    Column("approved_at", DateTime(timezone=True)),
    Column("approved_by", Text),
    Column("approving_cycle", String(256)),
)

# the removals waiting for approval now, one row per unit of access (a member of a group counts
# alone); ``first_held_at`` says which holds (and so which approvals) cover it
held_changes = Table(
    "held_changes",
    metadata,
    Column("app", String(64), primary_key=True),
    Column("object_type", String(16), primary_key=True),
    Column("source_id", String(128), primary_key=True),
    Column("action", String(16), primary_key=True),
    Column("member_id", String(128), primary_key=True),  # '' unless a membership
    Column("first_held_at", DateTime(timezone=True), nullable=False),
    Column("first_held_cycle", String(256), nullable=False),
)

# directory counts of healthy cycles: the baseline a collapse is measured against
directory_health = Table(
    "directory_health",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("app", String(64), nullable=False),
    Column("cycle_id", String(256), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("counts", JSON, nullable=False),
    Index("ix_health_app_time", "app", "time"),
)

# one run of an app at a time: the cycle holding the lease, and a fencing token that grows with
# every acquisition so a stale attempt's writes are refused
leases = Table(
    "leases",
    metadata,
    Column("app", String(64), primary_key=True),
    Column("holder", String(256), nullable=False),
    Column("token", Integer, nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# apply's partitions of one cycle (``target.partitions`` > 1): each attempt's fencing token, as the
# run lease has per app, and the partition's progress for the report and the page
apply_partitions = Table(
    "apply_partitions",
    metadata,
    Column("app", String(64), primary_key=True),
    Column("cycle_id", String(256), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("count", Integer, nullable=False),  # how many partitions the cycle's apply has
    Column("token", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # running, succeeded, failed, stopped
    Column("error", Text),  # why the app stopped this partition (a refusal that stops the cycle)
    Column("attempted", Integer, nullable=False, default=0),
    Column("succeeded", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
)

# per app: the request rate its clients learned from its 429s (app-wide, whatever the partitions)
# and until when it asked everyone to wait; every partition on every worker reads it
app_rate = Table(
    "app_rate",
    metadata,
    Column("app", String(64), primary_key=True),
    Column("rate", Float),  # requests per second; NULL: none learned
    Column("paused_until", Float, nullable=False),  # epoch seconds
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# per app and filter attribute: the app answered 400 to a filter on it, so matching skips that
# rule (and says so once) instead of asking again every cycle; forgotten after a while
refused_filters = Table(
    "refused_filters",
    metadata,
    Column("app", String(64), primary_key=True),
    Column("object_type", String(16), primary_key=True),
    Column("attribute", String(256), primary_key=True),
    Column("refused_at", DateTime(timezone=True), nullable=False),
    Column("error", Text),
)
