"""The app's ``target`` section: the app's endpoint and how hard the cycle may press on it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from provisioning.config.strict import StrictModel


class TargetConfig(StrictModel):
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
