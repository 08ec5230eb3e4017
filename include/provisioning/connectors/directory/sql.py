"""The SQL source (``directory.kind: sql``): the four relations of docs/directory.md, read
through SQLAlchemy into pandas frames.

Reads are whole-relation and column-explicit: a missing column or relation is reported by name
(with the relation it should be in), instead of surfacing later as a KeyError in the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine, String, cast, column, create_engine, inspect, select, table
from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

from provisioning.config.directory_section import DirectorySection
from provisioning.connectors.connection_url import sqlalchemy_url
from provisioning.connectors.directory.base import RELATIONS, DirectoryError, DirectorySnapshot
from provisioning.engine.directory_model import USER_ATTRIBUTES
from provisioning.engine.strings import OneCopy

# Ids are read as text whatever the column type: an integer column with one NULL comes back from
# pandas as float64, and id 1 would become "1.0", which no membership or assignment names.
ID_COLUMNS = frozenset({"id", "manager", "group_id", "member_id", "principal_id"})


def open_sql_directory(
    section: DirectorySection, get_connection: Callable[[str], Any], app: str
) -> SqlDirectorySource:
    """The registry's factory: the connection names the database, and its extra ``relations``
    the tables or views that stand for the documented relations. The app is not needed: the
    ``app_assignments`` relation names the app of each row."""
    conn = get_connection(section.conn_id)
    engine = create_engine(sqlalchemy_url(conn, section.conn_id), pool_pre_ping=True)
    return SqlDirectorySource(engine, conn.extra_dejson.get("relations"))


class SqlDirectorySource:
    min_users_ratio = None  # a directory's size may swing (directory/base.py)

    def __init__(self, engine: Engine, relations: dict[str, str] | None = None):
        self.engine = engine
        self.relations = {name: name for name in RELATIONS}
        self.relations.update(relations or {})

    def read(
        self,
        extra_user_attributes: Sequence[str] = (),
        extra_group_attributes: Sequence[str] = (),
    ) -> DirectorySnapshot:
        once = OneCopy()  # across relations: a membership's ids are the users' and groups' ids
        users = self._read(once, "users", [*USER_ATTRIBUTES, *extra_user_attributes])
        groups = self._read(
            once,
            "groups",
            ["id", "displayName", *extra_group_attributes],
            optional=["description", "updatedAt"],
        )
        groups["displayName"] = groups["displayName"].astype(str)
        memberships = self._read(once, "group_members", ["group_id", "member_id", "member_type"])
        assignments = self._read(
            once, "app_assignments", ["app", "principal_id", "principal_type"], optional=["role"]
        )
        for frame in (memberships, assignments):
            for name in ("member_type", "app", "principal_type"):
                if name in frame.columns:
                    frame[name] = frame[name].astype(str)
        return DirectorySnapshot(users, groups, memberships, assignments)

    def _read(
        self,
        once: OneCopy,
        relation: str,
        columns: list[str],
        optional: list[str] | None = None,
    ) -> pd.DataFrame:
        """The relation's rows, each value through ``once`` as the row arrives (OneCopy): a
        whole read holds every string the driver made, yet most repeat, within a column (a
        department) or across them (the mail that is also the userPrincipalName, the user id a
        membership names), and the frames were most of the extract's peak. The frame is built
        as ``pd.read_sql`` builds it, dtypes and missing values alike."""
        name = self.relations[relation]
        schema, _, table_name = name.rpartition(".")
        present = self._check_columns(name, schema or None, table_name, columns)
        columns = columns + [c for c in optional or [] if c in present]
        selected = [cast(column(c), String).label(c) if c in ID_COLUMNS else column(c) for c in columns]
        query = select(*selected).select_from(table(table_name, schema=schema or None))
        try:
            with self.engine.connect() as conn:
                result = conn.execute(query)
                labels = list(result.keys())
                rows = [once.row(row) for row in result]
        except SQLAlchemyError as exc:
            cause = str(getattr(exc, "orig", exc)).splitlines()[0]
            raise DirectoryError(
                f"cannot read directory relation {name!r} (columns {', '.join(columns)}): {cause}"
            ) from None
        return pd.DataFrame.from_records(rows, columns=labels, coerce_float=True)

    def _check_columns(self, name: str, schema: str | None, table_name: str, columns: list[str]) -> set[str]:
        """Look before selecting: SQLite reads a quoted name that is no column as a string literal,
        which would silently give every user the column's name as its value."""
        try:
            present = {c["name"] for c in inspect(self.engine).get_columns(table_name, schema=schema)}
        except NoSuchTableError:
            raise DirectoryError(f"directory relation {name!r} does not exist (table or view)") from None
        except SQLAlchemyError as exc:
            cause = str(getattr(exc, "orig", exc)).splitlines()[0]
            raise DirectoryError(f"cannot inspect directory relation {name!r}: {cause}") from None
        missing = [c for c in columns if c not in present]
        if missing:
            raise DirectoryError(
                f"directory relation {name!r} lacks column(s) {', '.join(missing)} "
                f"(it has {', '.join(sorted(present))}; see docs/directory.md)"
            )
        return present
