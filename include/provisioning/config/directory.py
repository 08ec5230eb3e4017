"""The app's ``directory`` section: which source users and groups are read from, chosen by ``kind``.

Each kind is one model (``sql`` here, ``ldap`` and ``hr_file`` in their own modules) with the
settings every source shares; ``connectors/directory/registry.py`` opens the source of each kind.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Tag

from provisioning.config.directory_section import DirectorySection
from provisioning.config.hr_file_directory import HrFileDirectoryConfig
from provisioning.config.kinds import by_kind
from provisioning.config.ldap_directory import LdapDirectoryConfig

DIRECTORY_KINDS = ("sql", "ldap", "hr_file")


class SqlDirectoryConfig(DirectorySection):
    """A SQL database exposing the four relations of docs/directory.md (tables or views)."""

    kind: Literal["sql"] = "sql"
    conn_id: str = Field(min_length=1, description="Airflow connection of the directory database")


DirectoryConfig = Annotated[
    Annotated[SqlDirectoryConfig, Tag("sql")]
    | Annotated[LdapDirectoryConfig, Tag("ldap")]
    | Annotated[HrFileDirectoryConfig, Tag("hr_file")],
    by_kind(DIRECTORY_KINDS, default="sql"),
]

__all__ = ["DIRECTORY_KINDS", "DirectoryConfig", "DirectorySection", "SqlDirectoryConfig"]
