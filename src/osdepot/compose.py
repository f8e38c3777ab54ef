"""The composition root: the one place that chooses concrete backends (the catalog
and blob store by their URLs, the remote fetchers) and wires them into a
:class:`~osdepot.services.context.Context` the services and the web layer use.

Everything above (``cli``) calls :func:`open_context` or :func:`create_app`; nothing
below imports this module (checked by import-linter in ``scripts/test``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from osdepot.bmc import RedfishReader
from osdepot.bmc.probe import addresses_in_use
from osdepot.config import Settings
from osdepot.remote import open_fetcher
from osdepot.services.context import Context
from osdepot.storage import open_blob_store
from osdepot.storage.catalog import SqlCatalog
from osdepot.storage.db import (
    CATALOG_ERRORS,
    is_busy,
    is_full,
    is_unreachable,
    is_unstorable,
    make_engine,
    private_folder,
    sqlite_file,
    sqlite_path,
    upgrade,
)
from osdepot.storage.reserve import SpaceReserve

if TYPE_CHECKING:
    from starlette.applications import Starlette


def _certificate(settings: Settings) -> str:
    """The certificate ``osdepot serve`` answers TLS with (tlscert.py makes one in the
    data folder when none is configured), or "" without TLS or before it exists."""
    if settings.no_tls:
        return ""
    path = settings.cert or settings.data_dir / "tls" / "cert.pem"
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return ""


def open_context(settings: Settings) -> Context:
    """Open the configured catalog (migrating it) and blob store."""
    private_folder(settings.data_dir)
    url = settings.effective_database_url
    engine = make_engine(url, settings.db_busy_timeout)
    upgrade(engine)
    catalog_file, size = sqlite_path(url), settings.catalog_reserve_bytes
    reserve = None
    if catalog_file is not None and size > 0:  # (a PostgreSQL server's disk is its own)
        reserve = SpaceReserve(catalog_file.with_suffix(".reserve"), size)
        reserve.keep()
    return Context(
        settings=settings,
        catalog=SqlCatalog(engine),
        blobs=open_blob_store(settings.effective_blob_url, settings.direct_io),
        fetchers=open_fetcher,
        bmc_reader=RedfishReader(),
        address_probe=addresses_in_use,
        server_certificate=_certificate(settings),
        loop_catalog=(
            SqlCatalog(make_engine(url, 0, pool_size=2))
            if sqlite_file(url) or url.startswith("postgresql")
            else None
        ),
        catalog_errors=CATALOG_ERRORS,
        busy=is_busy,
        unstorable=is_unstorable,
        full=is_full,
        unreachable=is_unreachable,
        keep_reserve=reserve.keep if reserve is not None else lambda: None,
        release_reserve=reserve.release if reserve is not None else lambda: 0,
        node=f"{settings.effective_node_name}/{os.getpid()}",
    )


def create_app(settings: Settings | None = None) -> Starlette:
    """The application on a context opened from ``settings`` (or the environment): the
    factory each worker process of ``osdepot serve --workers N`` calls. (The web layer
    is imported here, not above: the commands that only open a context — ``users``,
    ``fsck`` — start without it.)"""
    from osdepot.web import app

    return app.create_app(ctx=open_context(settings or Settings.from_env()))
