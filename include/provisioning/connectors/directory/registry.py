"""Which source each ``directory.kind`` of an app config opens: a new source is one more entry.

A factory gets the app's ``directory`` section, a way to fetch Airflow connections by id
(``BaseHook.get_connection`` in Airflow; any object with a Connection's fields in tests), so
a source takes its credentials from connections, as the design asks, without importing Airflow,
and the app's name: a source whose assignments live in its config (LDAP groups, an HR export
that assigns every worker) writes them for that app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provisioning.config.directory_section import DirectorySection
from provisioning.connectors.directory.base import DirectoryError, DirectorySource
from provisioning.connectors.directory.hr_file import open_hr_file_directory
from provisioning.connectors.directory.ldap import open_ldap_directory
from provisioning.connectors.directory.sql import open_sql_directory

ConnectionLookup = Callable[[str], Any]  # conn_id -> an Airflow Connection (or its fields)
SourceFactory = Callable[[DirectorySection, ConnectionLookup, str], DirectorySource]

SOURCES: dict[str, SourceFactory] = {
    "sql": open_sql_directory,
    "ldap": open_ldap_directory,
    "hr_file": open_hr_file_directory,
}


def open_source(section: DirectorySection, get_connection: ConnectionLookup, app: str) -> DirectorySource:
    """The source of the section's kind. The config refuses unknown kinds when it loads; this
    error is for a kind the config knows but no factory serves (a source half added)."""
    factory = SOURCES.get(section.kind)
    if factory is None:
        raise DirectoryError(
            f"no directory source of kind {section.kind!r} (known kinds: {', '.join(SOURCES)})"
        )
    return factory(section, get_connection, app)
