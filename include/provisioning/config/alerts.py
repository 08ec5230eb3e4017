"""The ``alerts`` section: which problems are sent, how often, and over which channels."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from provisioning.config.strict import StrictModel

ALERT_KINDS = ("cycle_failed", "objects_failed", "quarantine", "deletions_staged")


class EmailAlerts(StrictModel):
    to: list[str] = Field(min_length=1, description="recipients")
    smtp_conn_id: str = Field("smtp_default", description="an Airflow SMTP connection")
    from_email: str | None = Field(None, description="sender; default: the connection's from_email")


class WebhookAlerts(StrictModel):
    conn_id: str = Field(
        description="an Airflow connection whose host is the webhook URL (its password, if set, is sent "
        "as a bearer token): the URL is a secret, so it lives in a connection, not in this file"
    )


class AlertPolicy(StrictModel):
    on: list[Literal["cycle_failed", "objects_failed", "quarantine", "deletions_staged"]] = Field(
        default_factory=lambda: list(ALERT_KINDS), description="which problems are sent"
    )
    objects_failed_min: int = Field(
        10, ge=1, description="objects_failed is sent when a cycle has at least this many failed actions"
    )
    repeat_after_minutes: int = Field(
        240, ge=10, description="an ongoing problem is sent again at most this often (no alert storm)"
    )
    send_resolved: bool = Field(True, description="say when a problem that was sent is over")
    email: EmailAlerts | None = None
    slack: WebhookAlerts | None = Field(None, description="a Slack incoming webhook")
    webhook: WebhookAlerts | None = Field(None, description="any endpoint taking a JSON POST")

    @property
    def channels(self) -> bool:
        return bool(self.email or self.slack or self.webhook)
