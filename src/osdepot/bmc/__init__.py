"""The client side of BMCs: reading what a Redfish service manages (and, for
deployments, its virtual media, boot override and power), on OpenStack's ``sushy``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from osdepot.bmc import redfish
    from osdepot.domain.records import Host
    from osdepot.ports import BmcAccess

__all__ = ["RedfishReader"]


class RedfishReader:
    """:class:`osdepot.ports.BmcReader`: ``osdepot.bmc.redfish``'s, imported at first
    use. sushy and requests took about 0.3 s of every start of the server, which needs
    them only for BMCs and deployments."""

    def __init__(self) -> None:
        self._reader: redfish.RedfishReader | None = None

    def _real(self) -> redfish.RedfishReader:
        if self._reader is None:
            from osdepot.bmc.redfish import RedfishReader as Real

            self._reader = Real()
        return self._reader

    def systems(self, access: BmcAccess, now: float) -> list[Host]:
        return self._real().systems(access, now)

    def insert_media(self, access: BmcAccess, system: str, urls: Sequence[str]) -> None:
        self._real().insert_media(access, system, urls)

    def eject_media(self, access: BmcAccess, system: str) -> None:
        self._real().eject_media(access, system)

    def boot_once_from_cd(self, access: BmcAccess, system: str) -> None:
        self._real().boot_once_from_cd(access, system)

    def restart(self, access: BmcAccess, system: str) -> str:
        return self._real().restart(access, system)
