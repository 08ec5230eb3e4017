"""The HR file source (``directory.kind: hr_file``): a CSV or JSON export of workers."""

from provisioning.connectors.directory.hr_file.source import open_hr_file_directory

__all__ = ["open_hr_file_directory"]
