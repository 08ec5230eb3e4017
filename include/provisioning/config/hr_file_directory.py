"""The ``directory`` section of ``kind: hr_file``: an HR export of workers (docs/sources/hr_file.md).

The export is a file in object storage (``file://`` on one machine, ``s3://`` and the like in
production, through Airflow's object storage): one row per worker. Which column holds which
directory attribute, which statuses mean employed, and the date rules are settings here;
credentials for the storage stay in the Airflow connection ``conn_id``.
"""

from __future__ import annotations

import codecs
import re
from datetime import date, datetime
from pathlib import PurePosixPath
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from provisioning.config.directory_section import DirectorySection

# The columns of the export that are not directory attributes but decide scope.
LIFECYCLE_COLUMNS = ("status", "hireDate", "terminationDate")
# directory attribute (or lifecycle column) -> the export's column, as a Workday custom report
# names them; None: the export has no such column (the attribute is null for everyone)
COLUMN_DEFAULTS: dict[str, str | None] = {
    "id": "Employee_ID",
    "userPrincipalName": "Work_Email",
    "mail": "Work_Email",
    "givenName": "First_Name",
    "surname": "Last_Name",
    "displayName": "Display_Name",
    "department": "Department",
    "jobTitle": "Business_Title",
    "employeeId": "Employee_ID",
    "manager": "Manager_ID",
    "updatedAt": None,
    "status": "Worker_Status",
    "hireDate": "Hire_Date",
    "terminationDate": "Termination_Date",
}
# without these no worker can be told apart or placed in or out of scope
REQUIRED_COLUMNS = ("id", "status")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://.+", re.IGNORECASE)
FORMATS = ("csv", "json")


class HrFileDirectoryConfig(DirectorySection):
    """A CSV or JSON export of workers with hire and termination dates."""

    kind: Literal["hr_file"] = "hr_file"
    conn_id: str | None = Field(
        default=None, min_length=1, description="Airflow connection with the object storage's credentials"
    )
    path: str = Field(
        description="object storage URL of the export file, or of a folder (ending in /) with pattern"
    )
    pattern: str | None = Field(
        default=None, min_length=1, description="with a folder path: the newest file matching it is read"
    )
    format: Literal["csv", "json"] | None = Field(default=None, description="default: the file's suffix")
    encoding: str = Field(default="utf-8-sig", description="text encoding (utf-8-sig also reads a BOM)")
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="CSV field separator")
    records_key: str | None = Field(
        default=None, min_length=1, description="JSON: the key holding the rows (Workday RaaS: Report_Entry)"
    )
    columns: dict[str, str | None] = Field(
        default_factory=dict, description="directory attribute -> export column, over the defaults"
    )
    active_statuses: list[str] = Field(default=["Active", "Leave of Absence"], min_length=1)
    prehire_statuses: list[str] = Field(default=["Pre-Hire"])
    inactive_statuses: list[str] = Field(default=["Terminated", "Inactive"])
    prehire_days: int = Field(default=7, ge=0, le=365, description="days before the hire date scope opens")
    timezone: str = Field(default="UTC", description="IANA time zone of the dates (e.g. Europe/Paris)")
    date_format: str = Field(default="%Y-%m-%d", min_length=2, description="strptime format of the dates")
    min_rows_ratio: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="refuse an export with fewer rows than this share of the last healthy read (0: off)",
    )

    @field_validator("path")
    @classmethod
    def _url(cls, value: str) -> str:
        if not _URL.match(value):
            raise ValueError(
                f"{value!r} is not an object storage URL: give a scheme, e.g. file:///data/hr/workers.csv "
                "or s3://bucket/hr/"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone name (e.g. Europe/Paris, UTC)") from None
        return value

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, value: str) -> str:
        """A format that cannot read back the date it writes would misplace every worker."""
        sample = date(2031, 12, 24)
        try:
            ok = datetime.strptime(sample.strftime(value), value).date() == sample
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"{value!r} does not read a date back (it needs the year, month and day, e.g. %d/%m/%Y)"
            )
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"{value!r} is not a text encoding Python knows (e.g. utf-8, latin-1)") from None
        return value

    @model_validator(mode="after")
    def _coherent(self) -> HrFileDirectoryConfig:
        if "accountEnabled" in self.columns:
            raise ValueError("columns: accountEnabled comes from status and the dates, not from a column")
        known = set(COLUMN_DEFAULTS)
        unknown = sorted(set(self.columns) - known)
        if unknown:
            raise ValueError(
                f"columns: {', '.join(unknown)} are not directory attributes or lifecycle columns (known: "
                f"{', '.join(COLUMN_DEFAULTS)}; read other columns with extra_user_attributes)"
            )
        unset = [name for name in REQUIRED_COLUMNS if not self.column_map()[name]]
        if unset:
            raise ValueError(f"columns: {', '.join(unset)} must name a column of the export")
        folder = self.path.endswith("/")
        if folder and not self.pattern:
            raise ValueError(
                "pattern: a folder path (ending in /) needs the file names to read, e.g. workers-*.csv"
            )
        if not folder and self.pattern:
            raise ValueError("pattern: only with a folder path (ending in /); path names one file")
        if self.file_format() is None:
            raise ValueError(
                f"format: cannot tell csv or json from {self.pattern if folder else self.path!r}; set format"
            )
        seen: dict[str, str] = {}
        for field in ("active_statuses", "prehire_statuses", "inactive_statuses"):
            for status in getattr(self, field):
                other = seen.setdefault(status.strip().casefold(), field)
                if other != field:
                    raise ValueError(f"{field}: {status!r} is also in {other}; a status means one thing")
        return self

    def column_map(self) -> dict[str, str | None]:
        """Every attribute and lifecycle column this source fills, with the export column it reads."""
        return {**COLUMN_DEFAULTS, **self.columns}

    def file_format(self) -> str | None:
        if self.format:
            return self.format
        suffix = PurePosixPath(self.pattern or self.path).suffix.lower().lstrip(".")
        return suffix if suffix in FORMATS else None

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
