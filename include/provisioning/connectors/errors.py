"""What can go wrong talking to an app, in the cycle's terms, whatever the protocol.

The cycle decides by these classes alone: an unusable app stops the cycle (and is quarantined
later), a transient error is retried, not-found and already-exists are resolved by the action
itself, and a rejected request fails that one object (escrow backs off longer when the same
request would be rejected again). A connector raises subclasses that add its protocol's detail
(status, error type) to the message; messages never carry credentials.
"""

from __future__ import annotations


class ConnectorError(Exception):
    stops_cycle = False

    def __init__(self, message: str, *, code: str | None = None, permanent: bool = False):
        super().__init__(message)
        self._code = code
        self._permanent = permanent

    @property
    def code(self) -> str:
        """Short code for the provisioning log's error column."""
        return self._code or type(self).__name__

    @property
    def permanent(self) -> bool:
        """The same request would fail the same way: not worth trying every cycle."""
        return self._permanent

    @property
    def may_have_acted(self) -> bool:
        """The app may have carried the request out although this error came back (a timeout, a
        lost answer): a create is then looked for before it is sent again, never blindly repeated."""
        return False


class AppUnusable(ConnectorError):
    """Bad credentials, or answers that break the protocol: every request will fail."""

    stops_cycle = True


class TransientError(ConnectorError):
    """Connection failures, timeouts, throttling, server errors: worth retrying."""

    retry_after: float | None = None

    @property
    def may_have_acted(self) -> bool:
        return True  # unless the connector knows better (a refused connection, a 429)


class NotFound(ConnectorError):
    """The object is gone from the app."""


class AlreadyExists(ConnectorError):
    """The app holds the object already (a uniqueness conflict)."""


class Rejected(ConnectorError):
    """The app refused this one request (invalid value, schema, size)."""


class QueryRefused(Rejected):
    """The app cannot search by this attribute: not the object's fault, the lookup tries another."""

    def __init__(self, message: str, *, attribute: str, code: str | None = None):
        super().__init__(message, code=code)
        self.attribute = attribute
