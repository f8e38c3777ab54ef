"""The SQL catalog (:class:`osdepot.ports.Catalog`) on SQLAlchemy Core, one module per
aggregate: users and sessions, jobs, the repository (files, images, profiles), remote
file servers, links and installation trees, BMCs and their hosts, resumable uploads.
Portable SQL only: it runs on SQLite (embedded default) and PostgreSQL.
"""

from __future__ import annotations

from osdepot.storage.catalog.hosts import HostsCatalog
from osdepot.storage.catalog.links import LinksCatalog
from osdepot.storage.catalog.profiles import ProfilesCatalog
from osdepot.storage.catalog.repository import RepositoryCatalog
from osdepot.storage.catalog.servers import ServersCatalog
from osdepot.storage.catalog.uploads import UploadsCatalog
from osdepot.storage.catalog.users import UsersCatalog

__all__ = ["SqlCatalog"]


class SqlCatalog(
    UsersCatalog,
    RepositoryCatalog,
    ProfilesCatalog,
    ServersCatalog,
    LinksCatalog,
    HostsCatalog,
    UploadsCatalog,
):
    """Catalog on any SQLAlchemy engine (see :func:`osdepot.storage.db.make_engine`)."""
