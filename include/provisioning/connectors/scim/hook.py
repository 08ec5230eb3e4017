"""Airflow hook for a SCIM 2.0 app: turns an Airflow Connection into a ``ScimClient``, and an app
config into its ``ScimConnector`` (the only part of the SCIM target that needs Airflow).

The connection type is registered with Airflow by provider_info.py ("SCIM 2.0 app").
Connection fields: host = base URL (``https://app.example.com/scim/v2``), port optional,
password = bearer token. Extras: ``timeout``, ``max_retries``, ``page_size`` and
``requests_per_second`` override the app config's transport settings for this endpoint;
``tenant`` names the tenant when one base URL serves several (links are bound to URL + tenant).

OAuth 2.0 client credentials instead of a static token: extras ``client_id`` and ``token_url``
(the authorization server's token endpoint), optional ``scope`` and ``token_auth_method``
(``client_secret_basic``, the default, or ``client_secret_post``); the password is then the
client secret (Airflow masks it in logs as it masks a token). The token endpoint obeys the base
URL's rule: https, unless it is on this machine or the extra says ``allow_plain_http: true``.
"""

from __future__ import annotations

from typing import Any

from provisioning.config import AppConfig
from provisioning.connectors.connection_url import refuse_plain_http, token_url
from provisioning.connectors.http_hook import HttpClientHook, transport_options
from provisioning.connectors.oauth import ClientCredentials
from provisioning.connectors.rate_share import RateShare
from provisioning.connectors.scim.client import ScimClient
from provisioning.connectors.scim.connector import ScimConnector, client_options
from provisioning.connectors.scim.errors import ScimError, ScimNotFoundError
from provisioning.engine.partitions import Partition


class ScimHook(HttpClientHook):
    conn_name_attr = "scim_conn_id"
    default_conn_name = "scim_default"
    conn_type = "scim"
    hook_name = "SCIM 2.0 app"

    def __init__(
        self, scim_conn_id: str = default_conn_name, partition: Partition | None = None, **client_options: Any
    ):
        super().__init__(partition, client_options)
        self.scim_conn_id = scim_conn_id

    def get_conn(self) -> ScimClient:
        if self._client is None:
            conn = self.get_connection(self.scim_conn_id)
            base_url = token_url(conn, self.scim_conn_id, "the SCIM base URL")
            extra = conn.extra_dejson
            options = self._options(extra)
            tenant = extra.get("tenant", extra.get("extra__scim__tenant")) or None
            oauth = self._oauth(conn, options.get("timeout"))
            token = None if oauth else conn.password
            self._client = ScimClient(base_url, token, tenant=tenant, oauth=oauth, **options)
        return self._client

    def _oauth(self, conn: Any, timeout: float | None) -> ClientCredentials | None:
        """The connection's OAuth client credentials, if its extra names a ``client_id``."""
        extra = conn.extra_dejson

        def field(key: str) -> str | None:
            value = extra.get(key, extra.get(f"extra__scim__{key}"))
            return str(value).strip() if value not in (None, "") else None

        client_id = field("client_id")
        if client_id is None:
            return None
        url = field("token_url")
        if url is None:
            raise ValueError(
                f"connection {self.scim_conn_id!r} has an OAuth client_id but no token_url "
                "(the authorization server's token endpoint)"
            )
        if "://" not in url:
            url = f"https://{url}"
        if not conn.password:
            raise ValueError(
                f"connection {self.scim_conn_id!r} has an OAuth client_id but no client secret "
                "(the connection's password)"
            )
        refuse_plain_http(url, conn, self.scim_conn_id, "the OAuth token URL")
        return ClientCredentials(
            url,
            client_id,
            conn.password,
            field("scope"),
            name=self.scim_conn_id,
            auth_method=field("token_auth_method") or "client_secret_basic",
            **({"timeout": timeout} if timeout else {}),
        )

    def test_connection(self) -> tuple[bool, str]:
        """Read /ServiceProviderConfig and one page of users: proves URL, token and permissions.
        The button knows the connection, not the app config and its profile: where the standard
        path is a 404 it asks where Salesforce answers (/ServiceProviderConfigs)."""
        try:
            client = self.get_conn()
            try:
                config = client.service_provider_config()
            except ScimNotFoundError:
                client.service_provider_config_path = "/ServiceProviderConfigs"
                config = client.service_provider_config()
            next(iter(client.list_resources("user", attributes=["userName"])), None)
        except (ScimError, ValueError) as exc:
            return False, str(exc)
        patch = "supported" if config.patch and config.patch.supported else "not announced"
        return True, f"connected to {client.base_url}; PATCH {patch}"


def open_scim_connector(
    config: AppConfig, partition: Partition | None = None, rate_share: RateShare | None = None
) -> ScimConnector:
    """The connector of a ``kind: scim`` target, from its Airflow connection; for a partition of a
    partitioned apply, with its share of the app's rate and connections."""
    target = config.target
    client = ScimHook(
        target.conn_id,
        partition,
        **transport_options(target, partition, rate_share),
        **client_options(target.profile),
    ).get_conn()
    return ScimConnector.for_app(client, config)
