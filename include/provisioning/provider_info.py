"""Airflow provider metadata, found through the ``apache_airflow_provider`` entry point in
pyproject.toml: installing this project registers the "SCIM 2.0 app", "Matrix Synapse" and
"LDAP directory" connection types, with their labelled form fields, in the Airflow UI -- no Python
import of the hooks at UI time."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

TRANSPORT_FIELDS = {
    "timeout": ("Timeout (seconds)", "Per request; overrides the app config's target.timeout_seconds."),
    "max_retries": ("Retries", "Retries of idempotent requests after a 429/5xx/timeout."),
    "page_size": ("Page size", "Resources per page when listing; capped by the app's filter.maxResults."),
    "requests_per_second": ("Requests per second", "Rate cap for this app (empty: no cap)."),
}

# Synapse pages by its own rules: no SCIM filter.maxResults caps the page size
SYNAPSE_TRANSPORT_FIELDS = {
    **TRANSPORT_FIELDS,
    "page_size": ("Page size", "Accounts or rooms per page when listing the homeserver."),
}

OAUTH_FIELDS = {
    "token_url": (
        "OAuth token URL",
        "The authorization server's token endpoint (OAuth 2.0 client credentials; empty: the password "
        "is a static bearer token).",
    ),
    "client_id": (
        "OAuth client id",
        "Set it to use OAuth 2.0 client credentials: the password is then the client secret.",
    ),
    "scope": ("OAuth scope", "Space-separated scopes to ask for (empty: the client's default)."),
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provisioning",
        "name": "Directory provisioning",
        "description": "User and group provisioning from a directory (SQL, LDAP, Active Directory, HR "
        "exports) to SaaS apps over SCIM 2.0, and to Matrix Synapse.",
        "versions": [version("airflow-provisioning")],
        "connection-types": [
            {
                "connection-type": "scim",
                "hook-class-name": "provisioning.connectors.scim.hook.ScimHook",
                "hook-name": "SCIM 2.0 app",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "schema", "port"],
                    "relabeling": {"host": "SCIM base URL", "password": "Bearer token or client secret"},
                    "placeholders": {
                        "host": "https://app.example.com/scim/v2",
                        "password": "the app's provisioning token (OAuth: the client secret)",
                    },
                },
                "conn-fields": {
                    **{
                        name: {
                            "label": label,
                            "description": description,
                            "schema": {"type": ["number", "null"], "minimum": 0},
                        }
                        for name, (label, description) in TRANSPORT_FIELDS.items()
                    },
                    **{
                        name: {
                            "label": label,
                            "description": description,
                            "schema": {"type": ["string", "null"]},
                        }
                        for name, (label, description) in OAUTH_FIELDS.items()
                    },
                    "token_auth_method": {
                        "label": "OAuth client authentication",
                        "description": "How the client id and secret go to the token endpoint: "
                        "client_secret_basic (the default) or client_secret_post.",
                        "schema": {
                            "type": ["string", "null"],
                            "enum": ["client_secret_basic", "client_secret_post", None],
                        },
                    },
                    "allow_plain_http": {
                        "label": "Allow plain http",
                        "description": "Send the token over http:// to a host other than this machine "
                        "(only on a network you trust; https is the default).",
                        "schema": {"type": ["boolean", "null"]},
                    },
                },
            },
            {
                "connection-type": "synapse",
                "hook-class-name": "provisioning.connectors.synapse.hook.SynapseHook",
                "hook-name": "Matrix Synapse",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "schema"],
                    "relabeling": {"host": "Homeserver URL", "password": "Admin access token"},
                    "placeholders": {
                        "host": "https://matrix.example.org",
                        "password": "the access token of a Synapse server admin account",
                    },
                },
                "conn-fields": {
                    **{
                        name: {
                            "label": label,
                            "description": description,
                            "schema": {"type": ["number", "null"], "minimum": 0},
                        }
                        for name, (label, description) in SYNAPSE_TRANSPORT_FIELDS.items()
                    },
                    "allow_plain_http": {
                        "label": "Allow plain http",
                        "description": "Send the token over http:// to a host other than this machine "
                        "(only on a network you trust; https is the default).",
                        "schema": {"type": ["boolean", "null"]},
                    },
                },
            },
            {
                "connection-type": "ldap",
                "hook-class-name": "provisioning.connectors.directory.ldap.hook.LdapHook",
                "hook-name": "LDAP directory",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema"],
                    "relabeling": {"host": "LDAP server", "login": "Bind DN", "password": "Bind password"},
                    "placeholders": {
                        "host": "dc1.corp.example.com or ldaps://dc1.corp.example.com",
                        "login": "CN=svc-provisioning,OU=Service,DC=corp,DC=example,DC=com",
                        "port": "389 (636 for ldaps)",
                    },
                },
                "conn-fields": {
                    "tls": {
                        "label": "TLS",
                        "description": "ldaps, starttls (the default) or none (a bind password then only "
                        "goes to this machine, unless plain binds are allowed).",
                        "schema": {"type": ["string", "null"], "enum": ["ldaps", "starttls", "none", None]},
                    },
                    "ca_file": {
                        "label": "CA file",
                        "description": "PEM file of the CA that signed the server's certificate "
                        "(empty: the system's CAs).",
                        "schema": {"type": ["string", "null"]},
                    },
                    "allow_plain": {
                        "label": "Allow plain bind",
                        "description": "Send the bind password without TLS to a host other than this "
                        "machine (only on a network you trust).",
                        "schema": {"type": ["boolean", "null"]},
                    },
                },
            },
        ],
    }
