"""The app's ``directory`` section: which source users and groups are read from, chosen by ``kind``.

Each kind is one model (``sql`` today; ``ldap`` and ``hr_file`` next) with the settings every
source shares; ``connectors/directory/registry.py`` opens the source of each kind.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Tag

from provisioning.config.kinds import by_kind
from provisioning.config.strict import StrictModel

DIRECTORY_KINDS = ("sql",)


class DirectorySection(StrictModel):
    """What every kind of source has: a connection, and the attributes beyond the documented ones."""

    kind: str
    conn_id: str = Field(min_length=1, description="Airflow connection of the directory")
    extra_user_attributes: list[str] = Field(
        default_factory=list,
        description="columns of users beyond the documented schema that mappings may read",
    )
    extra_group_attributes: list[str] = Field(
        default_factory=list,
        description="columns of groups beyond the documented schema that group mappings may read",
    )


class SqlDirectoryConfig(DirectorySection):
    """A SQL database exposing the four relations of docs/directory.md (tables or views)."""

    kind: Literal["sql"] = "sql"


# A union of one kind today: an ``ldap`` or ``hr_file`` model is added beside it with its Tag.
DirectoryConfig = Annotated[
    Annotated[SqlDirectoryConfig, Tag("sql")], by_kind(DIRECTORY_KINDS, default="sql")
]
