"""Alembic migrations of the catalog; applied by :func:`osdepot.storage.db.upgrade`."""
