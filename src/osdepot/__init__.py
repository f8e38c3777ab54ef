"""osdepot: an OS-image repository server, wire-compatible with the LXCA OS-images API."""

__version__ = "0.1.0"
