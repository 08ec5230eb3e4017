"""SCIM 2.0 (RFC 7643/7644) app connector."""

from provisioning.connectors.scim.client import ScimClient
from provisioning.connectors.scim.errors import (
    ScimAuthError,
    ScimConflictError,
    ScimError,
    ScimNotFoundError,
    ScimProtocolError,
    ScimTransientError,
)

__all__ = [
    "ScimAuthError",
    "ScimClient",
    "ScimConflictError",
    "ScimError",
    "ScimNotFoundError",
    "ScimProtocolError",
    "ScimTransientError",
]
