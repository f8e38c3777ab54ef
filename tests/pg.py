"""The tests' PostgreSQL server: the demonstration cluster's (cluster/postgres.py)."""

from cluster.postgres import Postgres, pg_bin

__all__ = ["Postgres", "pg_bin"]
