"""HTTP and HTTPS with httpx: no redirects, Range requests to resume."""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import AsyncIterator

import httpx

from osdepot.domain.records import RemoteServer
from osdepot.domain.text import decimal
from osdepot.remote.base import Failure, Opened, RemoteCredentials, RemoteFailure

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


def _verify(server: RemoteServer) -> ssl.SSLContext | bool:
    if server.protocol != "HTTPS":
        return True
    if not server.verify_tls:
        return False
    if server.ca_cert:
        return ssl.create_default_context(cadata=server.ca_cert)
    return ssl.create_default_context()


def _reason(exc: BaseException) -> str:
    """The operating system's words for a failed connection ("Connection refused")."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno:
            return os.strerror(seen.errno)
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__


class HttpFetcher:
    def __init__(
        self,
        server: RemoteServer,
        credentials: RemoteCredentials,
        connect_timeout: float,
        stall_timeout: float,
    ) -> None:
        self.server = server
        password = credentials.password
        auth = httpx.BasicAuth(server.username, password) if server.username else None
        self.client = httpx.AsyncClient(
            verify=_verify(server),
            auth=auth,
            timeout=httpx.Timeout(
                connect=connect_timeout, read=stall_timeout, write=stall_timeout, pool=None
            ),
            follow_redirects=False,
            trust_env=False,  # no proxies or certificates from the environment
        )
        self._response: httpx.Response | None = None

    def url(self, path: str) -> httpx.URL:
        host = self.server.address.strip("[]")
        scheme = self.server.protocol.lower()
        return httpx.URL(scheme=scheme, host=host, port=self.server.port, path=path)

    async def open(self, path: str, offset: int) -> Opened:
        await self._close_response()
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        request = self.client.build_request("GET", self.url(path), headers=headers)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _failure(exc) from None
        self._response = response
        status = response.status_code
        if status in (301, 302, 303, 307, 308):
            where = response.headers.get("location", "?")
            raise RemoteFailure(
                Failure.TRANSFER,
                f"The server redirects to {where}. osdepot does not follow redirects: give "
                "the path of the file on this server, or register the server it redirects to.",
            )
        if status in (401, 403):
            raise RemoteFailure(Failure.AUTH, f"The server answered HTTP {status}.")
        if status in (404, 410):
            raise RemoteFailure(Failure.PATH, f"The server has no file {path} (HTTP {status}).")
        if status == 416:
            raise RemoteFailure(
                Failure.TRANSFER, f"The server refused to resume at byte {offset} (HTTP 416)."
            )
        if status >= 500:
            raise RemoteFailure(Failure.INTERRUPTED, f"The server answered HTTP {status}.")
        if status not in (200, 206):
            raise RemoteFailure(Failure.TRANSFER, f"The server answered HTTP {status}.")
        size: int | None = None
        if status == 206:
            m = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
            if not m or int(m.group(1)) != offset:
                raise RemoteFailure(
                    Failure.TRANSFER, f"The server resumed at another byte than {offset}."
                )
            size = int(m.group(3)) if m.group(3) != "*" else None
        else:
            if offset:
                raise RemoteFailure(
                    Failure.TRANSFER,
                    f"The transfer broke at byte {offset} and the server does not support "
                    "resuming (it ignores HTTP Range requests).",
                )
            length = response.headers.get("content-length")
            size = decimal(length or "")
        return Opened(size, self._chunks(response))

    async def _chunks(self, response: httpx.Response) -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_raw():  # as the bytes arrive
                yield chunk
        except httpx.TimeoutException:
            raise RemoteFailure(Failure.INTERRUPTED, "No bytes arrived in time.") from None
        except httpx.TransportError as exc:
            raise RemoteFailure(Failure.INTERRUPTED, f"The connection broke: {exc}.") from None

    async def put(self, path: str, chunks: AsyncIterator[bytes], size: int) -> None:
        """An HTTP PUT (WebDAV servers, object stores' presigned paths); the server
        keeps the file whole or not at all."""
        try:
            response = await self.client.put(
                self.url(path), content=chunks, headers={"Content-Length": str(size)}
            )
        except httpx.TransportError as exc:
            raise _failure(exc) from None
        status = response.status_code
        if status in (200, 201, 204):
            return
        if status in (401, 403):
            raise RemoteFailure(Failure.AUTH, f"The server answered HTTP {status}.")
        if status in (404, 405, 409):
            raise RemoteFailure(
                Failure.PATH, f"The server does not take a file at {path} (HTTP {status})."
            )
        raise RemoteFailure(Failure.TRANSFER, f"The server answered HTTP {status} to the PUT.")

    async def _close_response(self) -> None:
        if self._response is not None:
            await self._response.aclose()
            self._response = None

    async def reset(self) -> None:
        await self._close_response()

    async def close(self) -> None:
        await self._close_response()
        await self.client.aclose()


def _failure(exc: httpx.TransportError) -> RemoteFailure:
    """A transport failure of a request, classified."""
    if isinstance(exc, httpx.ConnectTimeout):
        return RemoteFailure(Failure.UNREACHABLE, "The connection timed out.")
    if isinstance(exc, httpx.ConnectError):
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower():
            return RemoteFailure(
                Failure.UNREACHABLE,
                f"The server's TLS certificate could not be verified ({text}). Add the "
                "CA certificate that signed it to the profile (caCertificate), or, on a "
                "trusted network only, set skipCertificateVerification.",
            )
        return RemoteFailure(Failure.UNREACHABLE, f"The connection failed: {_reason(exc)}.")
    if isinstance(exc, httpx.TimeoutException):
        return RemoteFailure(Failure.INTERRUPTED, "The server did not answer in time.")
    return RemoteFailure(Failure.INTERRUPTED, f"The connection broke: {exc}.")
