"""The client side of BMCs: reading what a Redfish service manages (and, for
deployments, its virtual media, boot override and power), on OpenStack's ``sushy``."""

from osdepot.bmc.redfish import RedfishReader

__all__ = ["RedfishReader"]
