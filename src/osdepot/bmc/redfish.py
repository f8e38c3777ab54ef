"""A BMC's Redfish service through OpenStack's ``sushy``: its computer systems with
UUID, name, maker, model, serial number, MAC addresses, power state and whether a
virtual CD can be inserted (on the system or on a manager of it); and the actions of a
deployment — virtual media inserted and ejected, a one-time boot override, a power-on
or restart. Every failure is an :class:`osdepot.errors.BmcFailure`: "unreachable",
"auth", "redfish", "no-media", "media", "boot" or "power". One attempt per request,
``BmcAccess.timeout`` to connect and for each answer; answers are read whole (sushy
reads them with requests), at most MAX_SYSTEMS systems are taken."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import requests
import sushy
from sushy import auth as sushy_auth
from sushy import connector as sushy_connector
from sushy import exceptions as sushy_exc

from osdepot.domain.deploy import base_url, normalise_uuid
from osdepot.domain.records import Host
from osdepot.domain.text import shown
from osdepot.errors import BmcFailure
from osdepot.ports import BmcAccess

log = logging.getLogger("osdepot.bmc")


class _SessionRefused(logging.Filter):
    """sushy logs an ERROR ("Authentication to the session service failed. Please
    check credentials") when a BMC refuses a Redfish session, then falls back to Basic
    authentication, as osdepot asks (``SessionOrBasicAuth``): at every read of such a
    BMC, while everything works. Left out; a wrong password fails the fallback too,
    and osdepot says so itself (the BMC's refusal in the answer and a log line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Authentication to the session service failed")


logging.getLogger("sushy.connector").addFilter(_SessionRefused())

#: most systems one BMC may report (an enclosure manager: dozens; a bound on a hostile one)
MAX_SYSTEMS = 256
#: most bytes of one Redfish answer (after decompression) read from a BMC: its JSON
#: documents are a few KiB; a hostile or broken BMC must not fill the server's memory
MAX_ANSWER = 4 * 1024 * 1024
#: most characters of a failure's text, which may quote what the BMC said
MAX_DETAIL = 500
#: a MAC address as Redfish writes one (``MACAddress``), lower-cased
_MAC = re.compile(r"[0-9a-f]{2}([:-][0-9a-f]{2}){5}")


class AnswerOutOfBounds(requests.RequestException):
    """A BMC's answer is larger than :data:`MAX_ANSWER`, or takes too long."""


def _bounded(seconds: float) -> Callable[..., requests.Response]:
    """A response hook: read the body — at most :data:`MAX_ANSWER` bytes, decompressed,
    within ``seconds`` — before requests would read all of it, however long."""

    def hook(response: requests.Response, *_args: Any, **_kwargs: Any) -> requests.Response:
        declared = response.headers.get("Content-Length", "").strip()
        # (ASCII digits only, and no int() of thousands of them: both would raise here)
        digits = declared.isascii() and declared.isdigit()
        if digits and (len(declared) > 18 or int(declared) > MAX_ANSWER):
            response.close()
            shown = (
                declared if len(declared) <= 18 else f"{declared[:18]}… ({len(declared)} digits)"
            )
            raise AnswerOutOfBounds(f"It announced an answer of {shown} bytes")
        raw = response.raw
        read = getattr(raw, "read1", None) or raw.read
        deadline = time.monotonic() + seconds
        data = bytearray()
        while piece := read(65536, decode_content=True):
            data += piece
            if len(data) > MAX_ANSWER:
                response.close()
                raise AnswerOutOfBounds(f"It sent an answer larger than {MAX_ANSWER} bytes")
            if time.monotonic() > deadline:
                response.close()
                raise AnswerOutOfBounds(f"It took more than {seconds:.0f} s to send one answer")
        response._content = bytes(data)  # what requests reads the body into
        return response

    return hook


@contextlib.contextmanager
def _verify(verify: bool | str) -> Iterator[bool | str]:
    """What requests takes as ``verify``: a PEM string goes through a private file."""
    if isinstance(verify, bool):
        yield verify
        return
    fd, path = tempfile.mkstemp(prefix="osdepot-bmc-ca-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(verify)
        yield path
    finally:
        os.unlink(path)


def _failure(exc: BaseException, url: str) -> BmcFailure:
    for found in (exc, exc.__cause__, exc.__context__):
        if isinstance(found, AnswerOutOfBounds):
            return BmcFailure("redfish", str(found))
    if isinstance(exc, sushy_exc.AccessError):
        return BmcFailure("auth", f"Its Redfish service answered HTTP {exc.status_code}")
    if isinstance(exc, sushy_exc.ConnectionError | requests.RequestException):
        cause = exc.__cause__ or exc.__context__ or exc
        text = str(cause)
        if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(cause, requests.exceptions.SSLError):
            return BmcFailure("unreachable", "Its TLS certificate could not be verified")
        if isinstance(cause, requests.exceptions.Timeout) or "timed out" in text.lower():
            return BmcFailure("unreachable", "It did not answer in time")
        return BmcFailure("unreachable", "The connection failed or was refused")
    if isinstance(exc, sushy_exc.HTTPError):
        status = getattr(exc, "status_code", "?")
        return BmcFailure("redfish", f"Its Redfish service answered HTTP {status}")
    if isinstance(exc, sushy_exc.SushyError | ValueError | KeyError | TypeError):
        return BmcFailure("redfish", f"It did not answer as a Redfish service ({exc})"[:300])
    return BmcFailure("redfish", f"Reading it failed ({type(exc).__name__})")


def _text(value: Any, limit: int = 255) -> str:
    """A name the BMC gives, as it is kept: printable (domain/text.py: shown)."""
    return shown(str(value), limit) if value not in (None, "") else ""


def _has_cd(collection: Any) -> bool:
    for medium in collection.get_members():
        kinds = {str(getattr(t, "value", t)).upper() for t in (medium.media_types or [])}
        if kinds & {"CD", "DVD"}:
            return True
    return False


def _virtual_cd(system: Any) -> bool:
    """Whether a virtual CD/DVD can be inserted for the system: on the system (Redfish
    1.11 and later) or on a manager that manages it."""
    with contextlib.suppress(sushy_exc.SushyError):
        if _has_cd(system.virtual_media):
            return True
    with contextlib.suppress(sushy_exc.SushyError):
        for manager in system.managers:
            with contextlib.suppress(sushy_exc.SushyError):
                if _has_cd(manager.virtual_media):
                    return True
    return False


def _macs(system: Any) -> tuple[str, ...]:
    found: list[str] = []
    with contextlib.suppress(sushy_exc.SushyError):
        for nic in system.ethernet_interfaces.get_members():
            mac = str(nic.mac_address or nic.permanent_mac_address or "").lower()
            if _MAC.fullmatch(mac) and mac not in found:
                found.append(mac)
    return tuple(found[:64])


def _reply(exc: BaseException) -> str:
    """What a BMC said when it refused an action (its Redfish message), shortened."""
    text = str(getattr(exc, "detail", "") or getattr(exc, "message", "") or exc)
    return " ".join(text.split())[:300]


def _slots(system: Any) -> list[Any]:
    """The system's virtual media slots: its own (Redfish 1.11+), else its managers'."""
    found: list[Any] = []
    with contextlib.suppress(sushy_exc.SushyError):
        found = list(system.virtual_media.get_members())
    if not found:
        with contextlib.suppress(sushy_exc.SushyError):
            for manager in system.managers:
                with contextlib.suppress(sushy_exc.SushyError):
                    found.extend(manager.virtual_media.get_members())
    return found


def _kinds(slot: Any) -> set[str]:
    return {str(getattr(t, "value", t)).upper() for t in (slot.media_types or [])}


class RedfishReader:
    """:class:`osdepot.ports.BmcReader` on sushy."""

    @contextlib.contextmanager
    def _root(self, access: BmcAccess) -> Iterator[Any]:
        url = base_url(access.url)
        with _verify(access.verify) as verify:
            conn = sushy_connector.Connector(
                url,
                verify=verify,
                # one attempt (sushy's 0 means its default of 3, 2 s apart): a
                # registration or refresh answers at once, and says why
                server_side_retries=1,
                server_side_retries_delay=0.5,
                default_request_timeout=access.timeout,
                connect_timeout=access.timeout,
            )
            # sushy keeps its requests session private; the hook bounds every answer
            conn._session.hooks["response"].append(_bounded(4 * access.timeout))
            auth = sushy_auth.SessionOrBasicAuth(username=access.username, password=access.password)
            try:
                yield sushy.Sushy(url, auth=auth, connector=conn)
            except BmcFailure as exc:
                # its text may quote the BMC (a refusal, a slot's or system's name)
                raise BmcFailure(exc.kind, shown(exc.detail, MAX_DETAIL)) from None
            except Exception as exc:  # every sushy/requests failure: classified
                failure = _failure(exc, url)
                failure = BmcFailure(failure.kind, shown(failure.detail, MAX_DETAIL))
                log.info("BMC %s: %s", url, failure.detail)
                raise failure from None
            finally:
                with contextlib.suppress(Exception):
                    auth.close()
                with contextlib.suppress(Exception):
                    conn.close()

    def systems(self, access: BmcAccess, now: float) -> list[Host]:
        with self._root(access) as root:
            return self._read(root, now)

    def insert_media(self, access: BmcAccess, system: str, urls: Sequence[str]) -> None:
        with self._root(access) as root:
            slots = _slots(root.get_system(system))
            cds = [s for s in slots if _kinds(s) & {"CD", "DVD"}]
            if not cds:
                raise BmcFailure("no-media", "The system has no virtual CD or DVD")
            others = cds[1:] + [
                s for s in slots if s not in cds and _kinds(s) & {"USBSTICK", "FLOPPY"}
            ]
            if len(urls) - 1 > len(others):
                raise BmcFailure(
                    "no-media",
                    f"The system has {1 + len(others)} virtual media slots; "
                    f"the deployment needs {len(urls)}",
                )
            for slot, url in zip([cds[0], *others], urls, strict=False):
                if slot.inserted:
                    with contextlib.suppress(sushy_exc.SushyError):
                        slot.eject_media()
                try:
                    slot.insert_media(url, inserted=True, write_protected=True)
                except sushy_exc.HTTPError as exc:
                    raise BmcFailure(
                        "media",
                        f"The BMC refused or could not fetch the image for its "
                        f"{slot.identity} slot: {_reply(exc)}",
                    ) from None

    def eject_media(self, access: BmcAccess, system: str) -> None:
        with self._root(access) as root:
            for slot in _slots(root.get_system(system)):
                if slot.inserted or slot.image:
                    slot.eject_media()

    def boot_once_from_cd(self, access: BmcAccess, system: str) -> None:
        with self._root(access) as root:
            try:
                root.get_system(system).set_system_boot_options(
                    sushy.BootSource.CD,
                    enabled=sushy.BootSourceOverrideEnabled.ONCE,
                    mode=sushy.BootSourceOverrideMode.UEFI,
                )
            except sushy_exc.HTTPError as exc:
                raise BmcFailure(
                    "boot", f"The BMC refused the boot override: {_reply(exc)}"
                ) from None

    def restart(self, access: BmcAccess, system: str) -> str:
        with self._root(access) as root:
            target = root.get_system(system)
            on = str(getattr(target.power_state, "value", target.power_state)) == "On"
            action = sushy.ResetType.FORCE_RESTART if on else sushy.ResetType.ON
            try:
                target.reset_system(action)
            except sushy_exc.HTTPError as exc:
                raise BmcFailure(
                    "power", f"The BMC refused the power action: {_reply(exc)}"
                ) from None
            return str(getattr(action, "value", action))

    @staticmethod
    def _read(root: Any, now: float) -> list[Host]:
        hosts: list[Host] = []
        collection = root.get_system_collection()
        paths = list(collection.members_identities)  # counted before any is read
        if len(paths) > MAX_SYSTEMS:
            raise BmcFailure("redfish", f"It reports {len(paths)} systems, more than {MAX_SYSTEMS}")
        for system in (collection.get_member(p) for p in paths):
            uuid = normalise_uuid(system.uuid or "")
            if not uuid:
                raise BmcFailure(
                    "redfish", f"Its system {system.path} has no UUID ({system.uuid!r})"
                )
            path = str(system.path)
            if shown(path, 512) != path:  # the actions of a deployment are sent to it
                raise BmcFailure("redfish", f"Its system {shown(path, 200)} has no usable path")
            power = system.power_state
            hosts.append(
                Host(
                    uuid=uuid,
                    bmc_id=0,
                    system_path=path,
                    name=_text(system.name),
                    manufacturer=_text(system.manufacturer),
                    model=_text(system.model),
                    serial=_text(system.serial_number),
                    macs=_macs(system),
                    power_state=_text(getattr(power, "value", power), 32),
                    virtual_cd=_virtual_cd(system),
                    refreshed_at=now,
                )
            )
        return hosts
