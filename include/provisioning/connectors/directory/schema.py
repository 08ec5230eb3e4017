"""The directory's SQL schema (documented in docs/directory.md).

Customers point the directory connection at their own database and expose these four
relations, as tables or views; the column names are Entra ID's attribute names so mappings read
naturally. The demo generator creates exactly these tables.
"""

from sqlalchemy import Boolean, Column, DateTime, Index, MetaData, String, Table, Text

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True, comment="immutable object id"),
    Column("userPrincipalName", String(256), nullable=False),
    Column("mail", String(256)),
    Column("givenName", String(128)),
    Column("surname", String(128)),
    Column("displayName", String(256)),
    Column("department", String(128)),
    Column("jobTitle", String(128)),
    Column("employeeId", String(64)),
    Column("accountEnabled", Boolean, nullable=False, default=True),
    Column("manager", String(64), comment="id of the manager's user row"),
    Column("updatedAt", DateTime(timezone=True)),
)

groups = Table(
    "groups",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("displayName", String(256), nullable=False),
    Column("description", Text),
    Column("updatedAt", DateTime(timezone=True)),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", String(64), nullable=False),
    Column("member_id", String(64), nullable=False),
    Column("member_type", String(8), nullable=False, comment="'user' or 'group'"),
    Index("ix_group_members_group", "group_id"),
)

app_assignments = Table(
    "app_assignments",
    metadata,
    Column("app", String(64), nullable=False, comment="app name as in include/apps/<app>.yaml"),
    Column("principal_id", String(64), nullable=False),
    Column("principal_type", String(8), nullable=False, comment="'user' or 'group'"),
    Column("role", String(128), comment="optional app role value ([appRoleAssignments] in expressions)"),
    Index("ix_app_assignments_app", "app"),
)
