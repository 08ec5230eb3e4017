"""SCIM errors, split by what the cycle must do about them.

``ScimAuthError`` and ``ScimProtocolError`` mean the whole app is unusable (stop, alert,
quarantine later); ``ScimTransientError`` is worth retrying; the rest fail one action. Messages
carry the HTTP status, SCIM ``scimType`` and ``detail`` -- never the request headers, so a
bearer token cannot leak into logs or the provisioning log.
"""

from __future__ import annotations


class ScimError(Exception):
    stops_cycle = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        scim_type: str | None = None,
        detail: str | None = None,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ):
        self.status = status
        self.scim_type = scim_type
        self.detail = detail
        self.method = method
        self.path = path
        self.retry_after = retry_after
        parts = [message]
        if method and path:
            parts.append(f"({method} {path})")
        if status is not None:
            parts.append(f"status={status}")
        if scim_type:
            parts.append(f"scimType={scim_type}")
        if detail:
            parts.append(f"detail={detail}")
        super().__init__(" ".join(parts))

    @property
    def code(self) -> str:
        """Short code for the provisioning log's error column."""
        if self.scim_type:
            return f"{self.status}:{self.scim_type}" if self.status else self.scim_type
        return str(self.status) if self.status is not None else type(self).__name__


class ScimAuthError(ScimError):
    """401/403: the credentials are wrong or lack permission; every call will fail."""

    stops_cycle = True


class ScimProtocolError(ScimError):
    """The app answered something that is not SCIM (bad JSON, missing fields)."""

    stops_cycle = True


class ScimTransientError(ScimError):
    """Connection failures, timeouts, 429 and 5xx: retried with backoff, then surfaced."""


class ScimConflictError(ScimError):
    """409: the resource already exists (uniqueness) or changed under us."""


class ScimNotFoundError(ScimError):
    """404: the resource is gone from the app."""
