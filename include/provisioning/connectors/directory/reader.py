"""Reading the directory into pandas frames.

Reads are whole-relation and column-explicit: a missing column or relation is reported by name
(with the relation it should be in), instead of surfacing later as a KeyError in the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, column, select, table
from sqlalchemy.exc import SQLAlchemyError

from provisioning.engine.directory_model import USER_ATTRIBUTES


class DirectoryError(RuntimeError):
    """The directory cannot be read as documented (missing relation/column, bad rows)."""


@dataclass
class DirectorySnapshot:
    users: pd.DataFrame
    memberships: pd.DataFrame  # group_id, member_id, member_type
    assignments: pd.DataFrame  # app, principal_id, principal_type


class DirectoryReader:
    def __init__(self, engine: Engine, relations: dict[str, str] | None = None):
        self.engine = engine
        self.relations = {
            "users": "users",
            "group_members": "group_members",
            "app_assignments": "app_assignments",
        }
        self.relations.update(relations or {})

    def read(self, extra_user_attributes: list[str] | tuple[str, ...] = ()) -> DirectorySnapshot:
        users = self._read("users", [*USER_ATTRIBUTES, *extra_user_attributes])
        self._check_users(users)
        memberships = self._read("group_members", ["group_id", "member_id", "member_type"])
        assignments = self._read("app_assignments", ["app", "principal_id", "principal_type"])
        for frame in (memberships, assignments):
            for name in frame.columns:
                frame[name] = frame[name].astype(str)
        users["id"] = users["id"].astype(str)
        return DirectorySnapshot(users, memberships, assignments)

    def _read(self, relation: str, columns: list[str]) -> pd.DataFrame:
        name = self.relations[relation]
        query = select(*[column(c) for c in columns]).select_from(table(name))
        try:
            with self.engine.connect() as conn:
                return pd.read_sql(query, conn)
        except SQLAlchemyError as exc:
            cause = str(getattr(exc, "orig", exc)).splitlines()[0]
            raise DirectoryError(
                f"cannot read directory relation {name!r} (columns {', '.join(columns)}): {cause}"
            ) from None

    @staticmethod
    def _check_users(users: pd.DataFrame) -> None:
        missing_id = users["id"].isna()
        if missing_id.any():
            raise DirectoryError(
                f"directory relation 'users' has {int(missing_id.sum())} row(s) with a null id"
            )
        duplicated = users["id"][users["id"].duplicated()]
        if not duplicated.empty:
            sample = ", ".join(map(str, duplicated.head(5)))
            raise DirectoryError(f"directory relation 'users' repeats id(s) {sample}: ids must be unique")
