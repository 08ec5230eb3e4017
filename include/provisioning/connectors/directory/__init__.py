"""The directory (source of truth) read through SQLAlchemy."""
