"""The HR file source (``directory.kind: hr_file``): one export of workers -> the directory snapshot.

Columns become directory attributes by the config's ``columns``; ``accountEnabled`` is computed
from worker status and dates on the HR time zone's today (worker_scope.py), with the reason a
disabled worker is out of scope. Every worker is assigned to the app (the export is the list of
people the app is for); there are no groups. The source only reads: a truncated export is refused
above it (cycle/source_checks.py) against the last healthy read, from ``min_users_ratio``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from provisioning.config.directory_section import DirectorySection
from provisioning.config.hr_file_directory import REQUIRED_COLUMNS, HrFileDirectoryConfig
from provisioning.connectors.directory.base import DirectoryError, DirectorySnapshot
from provisioning.connectors.directory.hr_file.export import Export, locate, read_export
from provisioning.connectors.directory.hr_file.worker_scope import StatusRules, today_in
from provisioning.engine.directory_model import DISABLED_REASON, ROW_PROBLEM, USER_ATTRIBUTES

Clock = Callable[[], datetime]


def open_hr_file_directory(section: DirectorySection, get_connection: Any, app: str) -> HrFileSource:
    """The registry's factory. The storage's credentials are resolved by Airflow's object storage
    from ``conn_id`` itself, so ``get_connection`` is not needed."""
    assert isinstance(section, HrFileDirectoryConfig)
    return HrFileSource(section, app)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class HrFileSource:
    def __init__(self, section: HrFileDirectoryConfig, app: str, now: Clock = _utcnow):
        self.section = section
        self.app = app
        self.now = now
        where = f"the HR export {section.path}{section.pattern or ''}"
        self.relations = {
            "users": where,
            "groups": f"{where} (no groups)",
            "group_members": f"{where} (no groups)",
            "app_assignments": f"{where} (every worker)",
        }
        # read by cycle/source_checks.py: fewer users than this share of the last healthy read is refused
        self.min_users_ratio = section.min_rows_ratio
        self.rules = StatusRules.of(
            section.active_statuses,
            section.prehire_statuses,
            section.inactive_statuses,
            section.prehire_days,
            section.date_format,
        )

    def read(
        self, extra_user_attributes: Sequence[str] = (), extra_group_attributes: Sequence[str] = ()
    ) -> DirectorySnapshot:
        section = self.section
        file = locate(section.path, section.pattern, section.conn_id)
        export = read_export(
            file, section.file_format(), section.encoding, section.delimiter, section.records_key
        )
        self.relations["users"] = f"the HR export {export.url}"
        columns = {name: column for name, column in section.column_map().items() if column}
        columns.update({name: name for name in extra_user_attributes})
        # a JSON export leaves out the fields a worker has no value for: only the columns no
        # worker can lack are sure to be somewhere in it
        required = columns if section.file_format() == "csv" else {n: columns[n] for n in REQUIRED_COLUMNS}
        _check_header(export, required)
        users = self._users(export, columns, list(extra_user_attributes))
        assignments = pd.DataFrame(
            {"app": self.app, "principal_id": users["id"].dropna(), "principal_type": "user"},
            columns=["app", "principal_id", "principal_type"],
        )
        return DirectorySnapshot(
            users,
            pd.DataFrame(columns=["id", "displayName", "description", *extra_group_attributes]),
            pd.DataFrame(columns=["group_id", "member_id", "member_type"]),
            assignments,
        )

    def _users(self, export: Export, columns: dict[str, str], extras: list[str]) -> pd.DataFrame:
        today = today_in(self.section.zone(), self.now())
        attributes = [a for a in USER_ATTRIBUTES if a != "accountEnabled"] + extras
        records = []
        for index, row in enumerate(export.rows):
            record = {name: row.get(columns[name]) if name in columns else None for name in attributes}
            standing = self.rules.standing(
                row.get(columns["status"]),
                row.get(columns["hireDate"]) if "hireDate" in columns else None,
                row.get(columns["terminationDate"]) if "terminationDate" in columns else None,
                today,
            )
            problem = export.problems.get(index) or standing.problem
            record["accountEnabled"] = standing.enabled
            record[DISABLED_REASON] = standing.reason
            record[ROW_PROBLEM] = f"{problem} (row {index + 1} of {export.url})" if problem else None
            records.append(record)
        return pd.DataFrame.from_records(
            records, columns=[*USER_ATTRIBUTES, *extras, DISABLED_REASON, ROW_PROBLEM]
        )


def _check_header(export: Export, columns: dict[str, str]) -> None:
    """Every configured column must be in the header: a renamed column read as empty would make
    every worker look like a leaver (no status) or every account lose an attribute."""
    missing = sorted({column for column in columns.values() if column not in export.header})
    if not missing:
        return
    named = []
    for column in missing:
        attributes = ", ".join(name for name, c in columns.items() if c == column)
        guess = difflib.get_close_matches(column, [h for h in export.header if h not in columns.values()], 1)
        hint = f"; renamed to {guess[0]!r}?" if guess else ""
        named.append(f"{column!r} ({attributes}{hint})")
    raise DirectoryError(
        f"the header of the HR export {export.url} changed: it lacks {', '.join(named)}. It has "
        f"{', '.join(export.header)}. Refusing the export (fix it, or directory.columns in the app config)"
    )
