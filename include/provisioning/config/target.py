"""The app's ``target`` section: which kind of app API, its endpoint, how hard the cycle may press
on it, and what its attribute paths mean.

Targets are chosen by ``kind``. Each kind says what a mapping target may be (a SCIM path, an LDAP
attribute), how its values are judged and which attributes the app itself keeps unique; the rest
of the config and the cycle treat paths as opaque text. A new kind is a model here with the same
methods, added to ``TargetConfig`` and ``TARGET_KINDS``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from provisioning.config.strict import StrictModel
from provisioning.connectors.scim.paths import (
    ENTERPRISE_USER_SCHEMA,
    REQUIRED,
    ScimPathError,
    attribute_path,
    parse_scim_path,
)
from provisioning.engine.attribute_path import AttributePath
from provisioning.engine.vocabulary import ObjectType

# SCIM compares these case-insensitively (RFC 7643: userName and emails are caseExact=false).
CASE_INSENSITIVE_TARGETS = ("username", "emails")


class ScimTargetConfig(StrictModel):
    kind: Literal["scim"] = "scim"
    conn_id: str = Field(min_length=1, description="Airflow connection of the app's SCIM endpoint")
    max_concurrency: int = Field(8, ge=1, le=64, description="requests in flight at once")
    page_size: int = Field(200, ge=1, le=1000, description="resources per page when listing the app")
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    max_retries: int = Field(5, ge=0, le=20)
    requests_per_second: float | None = Field(
        None, gt=0, le=10_000, description="cap on requests per second to the app (null: no cap)"
    )
    shared_with: list[str] = Field(
        default_factory=list,
        description="other apps that deliberately write the same object types to this connection",
    )
    request_deadline_seconds: float = Field(
        120.0, gt=0, le=3600, description="total time for one request, the response body included"
    )
    max_response_mib: float = Field(16, gt=0, le=1024, description="larger response bodies are refused")

    @staticmethod
    def normalize_path(text: str) -> str:
        """SCIM's manager is complex: Entra-style targets that name it address its value."""
        text = text.strip()
        try:
            path = parse_scim_path(text)
        except ScimPathError:
            return text
        if path.schema == ENTERPRISE_USER_SCHEMA and path.attribute == "manager" and not path.sub_attribute:
            return f"{path.text}.value"
        return text

    @staticmethod
    def path_problem(text: str) -> str | None:
        try:
            parse_scim_path(text)
        except ScimPathError as exc:
            return str(exc)
        return None

    @staticmethod
    def attribute_path(text: str, object_type: str) -> AttributePath:
        return attribute_path(parse_scim_path(text), object_type)

    @staticmethod
    def required_attribute(object_type: str) -> tuple[str, str]:
        """The attribute every object of this type must be mapped to, and why."""
        return REQUIRED[object_type], "SCIM requires it"

    @staticmethod
    def unique_attributes(object_type: str) -> tuple[str, ...]:
        """Mapped paths (lower case) the app keeps unique: two objects sharing a value conflict, and
        an interrupted create is looked up by them."""
        return ("username",) if object_type == ObjectType.USER else ()

    @staticmethod
    def case_sensitive_by_default(text: str) -> bool:
        return parse_scim_path(text).attribute.lower() not in CASE_INSENSITIVE_TARGETS


# the union of target kinds, discriminated by ``kind`` once there is more than one
TargetConfig = ScimTargetConfig
TARGET_KINDS: dict[str, type[TargetConfig]] = {"scim": ScimTargetConfig}
