"""The HR file source (``directory.kind: hr_file``)."""

from __future__ import annotations

from provisioning.config.directory_section import DirectorySection
from provisioning.connectors.directory.base import DirectoryError, DirectorySource


def open_hr_file_directory(section: DirectorySection, get_connection, app: str) -> DirectorySource:
    raise DirectoryError("the hr_file source is not built yet")
