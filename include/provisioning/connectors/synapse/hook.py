"""Airflow hook for a Matrix Synapse homeserver: turns an Airflow Connection into a
``SynapseClient``, and an app config into its ``SynapseConnector`` (the only part of the Synapse
target that needs Airflow).

The connection type is registered with Airflow by provider_info.py ("Matrix Synapse").
Connection fields: host = the homeserver's client URL (``https://matrix.example.org``; Synapse
serves ``/_matrix`` and ``/_synapse/admin`` there), port optional, password = the access token of
a server admin account (Synapse's admin API accepts nothing else). Extras: ``timeout``,
``max_retries``, ``page_size`` and ``requests_per_second`` override the app config's transport
settings for this server; ``allow_plain_http: true`` lets the token go over http:// to a host
other than this machine (a network you trust).
"""

from __future__ import annotations

from typing import Any

from provisioning.config import AppConfig
from provisioning.connectors.connection_url import token_url
from provisioning.connectors.http_hook import HttpClientHook, transport_options
from provisioning.connectors.rate_share import RateShare
from provisioning.connectors.synapse.client import SynapseClient
from provisioning.connectors.synapse.connector import SynapseConnector
from provisioning.connectors.synapse.errors import SynapseError
from provisioning.engine.partitions import Partition


class SynapseHook(HttpClientHook):
    conn_name_attr = "synapse_conn_id"
    default_conn_name = "synapse_default"
    conn_type = "synapse"
    hook_name = "Matrix Synapse"

    def __init__(
        self,
        synapse_conn_id: str = default_conn_name,
        partition: Partition | None = None,
        **client_options: Any,
    ):
        super().__init__(partition, client_options)
        self.synapse_conn_id = synapse_conn_id

    def get_conn(self) -> SynapseClient:
        if self._client is None:
            conn = self.get_connection(self.synapse_conn_id)
            base_url = token_url(conn, self.synapse_conn_id, "the homeserver URL")
            if not conn.password:
                raise ValueError(
                    f"connection {self.synapse_conn_id!r} has no password: it must hold the access "
                    "token of a Synapse server admin"
                )
            options = self._options(conn.extra_dejson)
            self._client = SynapseClient(base_url, conn.password, **options)
        return self._client

    def test_connection(self) -> tuple[bool, str]:
        """Ask who the token is and read one page of accounts: proves URL, token and admin rights."""
        try:
            client = self.get_conn()
            me = client.whoami()
            next(iter(client.list_users()), None)
        except (SynapseError, ValueError) as exc:
            return False, str(exc)
        return True, f"connected to {client.base_url} as {me} (server admin)"


def open_synapse_connector(
    config: AppConfig, partition: Partition | None = None, rate_share: RateShare | None = None
) -> SynapseConnector:
    """The connector of a ``kind: synapse`` target, from its Airflow connection."""
    target = config.target
    client = SynapseHook(
        target.conn_id, partition, **transport_options(target, partition, rate_share)
    ).get_conn()
    return SynapseConnector.for_app(client, config)
