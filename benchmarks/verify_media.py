"""What checking a medium against its own metadata costs (content/media/verify.py).

Two media of ``--size-gib`` (8 GiB by default: the file extended, sparse) with the
declared files of real ones, at their real sizes:

- a RHEL 9 DVD: ``.treeinfo`` checksums of vmlinuz (13 MiB), initrd.img (105 MiB),
  install.img (880 MiB) and efiboot.img (10 MiB); two repositories whose
  ``repomd.xml`` checksum their metadata (40 MiB each). About 1.1 GiB is hashed
  (SHA-256), however large the rest of the DVD.
- an Ubuntu server ISO: ``md5sum.txt`` lists every file — the casper squashfs
  (``--ubuntu-gib``, 2.5 GiB by default) and the rest — so all of it is hashed (MD5).

Each is verified ``--runs`` times from the page cache ("warm") and, when run as root,
once more after dropping the page cache ("cold", as after an import, whose O_DIRECT
writes leave nothing cached). Prints the time, the bytes hashed and the rate.

    .venv/bin/python -m benchmarks.verify_media [--size-gib 8] [--ubuntu-gib 2.5] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from tests.media import make_iso, patch_header, repomd, rhel_like_files, ubuntu_files

from osdepot.content.inspect import verify_content
from osdepot.files import FileReader

MIB = 1 << 20


def _blob(size: int, seed: bytes) -> bytes:
    block = hashlib.sha512(seed).digest() * (MIB // 64)
    return (block * (size // MIB + 1))[:size]


def rhel_files() -> dict[str, bytes]:
    files = rhel_like_files()
    sizes = {
        "images/pxeboot/vmlinuz": 13 * MIB,
        "images/pxeboot/initrd.img": 105 * MIB,
        "images/install.img": 880 * MIB,
        "images/efiboot.img": 10 * MIB,
    }
    boot = {p: _blob(n, p.encode()) for p, n in sizes.items()}
    treeinfo = files[".treeinfo"].decode().split("[checksums]")[0]
    sums = "".join(f"{p} = sha256:{hashlib.sha256(d).hexdigest()}\n" for p, d in boot.items())
    files.update(boot)
    files[".treeinfo"] = (treeinfo + "[checksums]\n" + sums).encode()
    for repo in ("BaseOS", "AppStream"):
        primary = _blob(40 * MIB, repo.encode())
        files[f"{repo}/repodata/primary.xml.gz"] = primary
        files[f"{repo}/repodata/repomd.xml"] = repomd(
            {"primary": "repodata/primary.xml.gz"}, primary
        )
    return files


def ubuntu_big_files(squashfs: int) -> dict[str, bytes]:
    files = ubuntu_files()
    files.pop("md5sum.txt")
    files["casper/ubuntu-server-minimal.squashfs"] = _blob(squashfs, b"squashfs")
    files["casper/vmlinuz"] = _blob(14 * MIB, b"vmlinuz")
    files["casper/initrd"] = _blob(120 * MIB, b"initrd")
    files["md5sum.txt"] = "".join(
        f"{hashlib.md5(d).hexdigest()}  ./{p}\n" for p, d in files.items()
    ).encode()
    return files


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def measure(path: Path, runs: int) -> dict[str, object]:
    times, checked = [], {}
    for _ in range(runs):
        t = time.perf_counter()
        checked, failure = verify_content(FileReader(path), path.name)
        times.append(time.perf_counter() - t)
        assert failure is None, failure.render()
    cold = None
    if drop_caches():
        t = time.perf_counter()
        verify_content(FileReader(path), path.name)
        cold = time.perf_counter() - t
    hashed = int(str(checked["bytes"]))
    return {
        "sources": checked["sources"],
        "files": checked["files"],
        "bytesHashed": hashed,
        "fileBytes": path.stat().st_size,
        "warmMedianSeconds": statistics.median(times),
        "coldSeconds": cold,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-gib", type=float, default=8.0)
    ap.add_argument("--ubuntu-gib", type=float, default=2.5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/verify_media.json"))
    args = ap.parse_args()
    size = int(args.size_gib * (1 << 30)) // 2048 * 2048
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("OSDEPOT_BENCH_DIR", "/var/tmp")) as d:
        media = {
            "rhel": (rhel_files, "RHEL-9-4-0-BaseOS-x86_64"),
            "ubuntu": (
                lambda: ubuntu_big_files(int(args.ubuntu_gib * (1 << 30))),
                "Ubuntu-Server 22.04.3 LTS amd64",
            ),
        }
        for kind, (build, vid) in media.items():
            path = make_iso(Path(d) / f"{kind}.iso", build(), volume_id=vid)
            if path.stat().st_size < size:
                patch_header(path, volume_size=size)
                with open(path, "r+b") as f:
                    f.truncate(size)
            row = {"medium": kind, **measure(path, args.runs)}
            rows.append(row)
            hashed = int(str(row["bytesHashed"]))
            warm = float(str(row["warmMedianSeconds"]))
            cold = row["coldSeconds"]
            print(
                f"{kind:7} {int(str(row['fileBytes'])) / (1 << 30):.1f} GiB, "
                f"{row['files']} files against {', '.join(map(str, row['sources']))}: "
                f"{hashed / (1 << 30):.2f} GiB hashed; warm {warm:.2f} s "
                f"({hashed / warm / 1e6:.0f} MB/s)"
                + (f", cold {cold:.2f} s ({hashed / float(cold) / 1e6:.0f} MB/s)" if cold else "")
            )
            path.unlink()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"sizeBytes": size, "media": rows}, indent=2))
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
