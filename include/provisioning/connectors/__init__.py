"""Connectors: the SQL directory reader and one hook per app API."""
