"""What the connectors of the HTTP targets (scim/connector.py, synapse/connector.py) share: the
one client (connectors/http_exchange.py) they hold, closed with them, and the app's 429s counted
by its throttle (``throttled``, apply's summary).
"""

from __future__ import annotations

from typing import Any, Self

from provisioning.connectors.http_exchange import HttpExchange


class HttpConnector:
    client: HttpExchange[Any]

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def throttled(self) -> int:
        """How often the app told us to slow down (429) since the connector was opened."""
        return self.client.throttle.throttled
