"""The ``directory`` section of ``kind: hr_file``: an HR export of workers (docs/sources/hr_file.md)."""

from __future__ import annotations

from typing import Literal

from provisioning.config.directory_section import DirectorySection


class HrFileDirectoryConfig(DirectorySection):
    """A CSV or JSON export of workers with hire and termination dates."""

    kind: Literal["hr_file"] = "hr_file"
