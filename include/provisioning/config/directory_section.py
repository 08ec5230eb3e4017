"""What every kind of directory source has in its config section."""

from __future__ import annotations

from pydantic import Field

from provisioning.config.strict import StrictModel


class DirectorySection(StrictModel):
    """The settings every source shares: its kind, its Airflow connection (which a kind may make
    optional, e.g. a file on local disk), and the attributes read beyond the documented ones."""

    kind: str
    conn_id: str | None = Field(default=None, min_length=1, description="Airflow connection of the source")
    extra_user_attributes: list[str] = Field(
        default_factory=list,
        description="attributes of users beyond the documented schema that mappings may read",
    )
    extra_group_attributes: list[str] = Field(
        default_factory=list,
        description="attributes of groups beyond the documented schema that group mappings may read",
    )
