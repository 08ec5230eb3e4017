"""Connectors: the directory sources and one hook per app API."""
