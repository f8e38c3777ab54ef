"""The small volume a deployment attaches as a second virtual medium: an ISO 9660
image (Joliet and Rock Ridge names, so ``user-data`` and ``autounattend.xml`` keep
their names on Linux and Windows) labelled as the installer expects (``OEMDRV``,
``CIDATA``), holding the host's unattended files."""

from __future__ import annotations

import io
import re

import pycdlib

#: a name ISO 9660 level 1 keeps as it is (ESXi's ``ks=cdrom:/KS.CFG`` reads that name)
_ISO_NAME = re.compile(r"[A-Z0-9_]{1,8}\.[A-Z0-9_]{1,3}")

#: the most a configuration volume may hold (its files are a few kilobytes)
MAX_BYTES = 4 << 20


def build(label: str, files: dict[str, bytes]) -> bytes:
    """An ISO 9660 image labelled ``label`` with ``files`` at its root."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=label)
    for n, (name, data) in enumerate(sorted(files.items())):
        if len(data) > MAX_BYTES:
            raise ValueError(f"{name} is larger than {MAX_BYTES} bytes")
        short = f"/{name};1" if _ISO_NAME.fullmatch(name) else f"/F{n:07d}.;1"
        iso.add_fp(
            io.BytesIO(data),
            len(data),
            short,
            rr_name=name,
            joliet_path=f"/{name}",
        )
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def read(image: bytes) -> dict[str, bytes]:
    """The files of a volume ``build`` made, by their long names (for checks)."""
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(image))
    found: dict[str, bytes] = {}
    try:
        for child in iso.list_children(rr_path="/"):
            if child.is_dot() or child.is_dotdot():
                continue
            name = child.rock_ridge.name().decode()
            buf = io.BytesIO()
            iso.get_file_from_iso_fp(buf, rr_path=f"/{name}")
            found[name] = buf.getvalue()
    finally:
        iso.close()
    return found
