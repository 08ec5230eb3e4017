"""The app's ``directory`` section: where the source of users and groups is read from."""

from __future__ import annotations

from pydantic import Field

from provisioning.config.strict import StrictModel


class DirectoryConfig(StrictModel):
    conn_id: str = Field(min_length=1, description="Airflow connection of the SQL directory")
    extra_user_attributes: list[str] = Field(
        default_factory=list,
        description="columns of users beyond the documented schema that mappings may read",
    )
    extra_group_attributes: list[str] = Field(
        default_factory=list,
        description="columns of groups beyond the documented schema that group mappings may read",
    )
