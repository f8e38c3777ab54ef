"""Pulling files from registered remote file servers, one fetcher per protocol, chosen
by the profile's protocol (a URL scheme) through :data:`FETCHERS`, as blob stores are
chosen by their URL. A new protocol is a new module and one line here."""

from __future__ import annotations

import importlib

from osdepot.domain.records import RemoteServer
from osdepot.errors import ConfigError
from osdepot.ports import Fetcher, RemoteCredentials

#: protocol (scheme) → "module:class" of its fetcher, imported on first use
FETCHERS = {
    "http": "osdepot.remote.http:HttpFetcher",
    "https": "osdepot.remote.http:HttpFetcher",
    "ftp": "osdepot.remote.ftp:FtpFetcher",
    "sftp": "osdepot.remote.sftp:SftpFetcher",
}


def open_fetcher(
    server: RemoteServer,
    credentials: RemoteCredentials,
    connect_timeout: float,
    stall_timeout: float,
) -> Fetcher:
    """The fetcher for ``server``'s protocol (an ``osdepot.ports.FetcherFactory``)."""
    where = FETCHERS.get(server.protocol.lower())
    if where is None:
        raise ConfigError(f"no fetcher for the protocol {server.protocol!r}")
    module, name = where.split(":")
    cls = getattr(importlib.import_module(module), name)
    fetcher: Fetcher = cls(server, credentials, connect_timeout, stall_timeout)
    return fetcher
