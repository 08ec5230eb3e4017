"""Alembic migrations of the state store, shipped in the package: ``provisioning db upgrade``
runs them (``state/schema.py``); revisions live in ``versions/``, one file per schema change."""
