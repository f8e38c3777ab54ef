"""How fast osdepot recognises an installation medium, and how much of it it reads.

For each deployable family a medium with the real file layout is built (pycdlib),
its volume descriptor set to 8 GiB and the file extended to 8 GiB (sparse by
default; ``--dense`` writes real bytes), then ``inspect_path`` runs on it several
times. Prints the time per inspection, the bytes read and their share of the file,
and writes the figures to a JSON file.

    .venv/bin/python -m benchmarks.inspect_media [--size-gib 8] [--runs 20] [--dense]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from tests.media import medium, patch_header

from osdepot.content import osinfo
from osdepot.content.inspect import inspect_path
from osdepot.domain.images import ImageType

KINDS = ["rhel", "sles", "ubuntu", "esxi", "windows"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-gib", type=float, default=8.0)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--dense", action="store_true", help="write real bytes, not a sparse file")
    ap.add_argument("--osinfo-path", default=os.environ.get("OSDEPOT_OSINFO_PATH"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/inspect_media.json"))
    args = ap.parse_args()
    size = int(args.size_gib * (1 << 30)) // 2048 * 2048

    t0 = time.perf_counter()
    db = osinfo.load(args.osinfo_path)
    load_s = time.perf_counter() - t0
    print(f"osinfo-db {db.version or '(none)'}: {len(db.rules)} ISO rules loaded in {load_s:.3f} s")
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("OSDEPOT_BENCH_DIR")) as d:
        for kind in KINDS:
            path = medium(Path(d) / f"{kind}.iso", kind)
            patch_header(path, volume_size=size)
            if args.dense:
                with open(path, "r+b") as f:
                    f.seek(0, 2)
                    block = b"\xa5" * (8 << 20)
                    while f.tell() < size:
                        f.write(block[: min(len(block), size - f.tell())])
            times = []
            result = None
            for _ in range(args.runs):
                t = time.perf_counter()
                result = inspect_path(path, ImageType.OS, None, path.name, args.osinfo_path)
                times.append(time.perf_counter() - t)
            assert result is not None and result.valid, result and result.as_json()
            row = {
                "family": kind,
                "imageId": result.os.image_id if result.os else None,
                "fileBytes": result.size,
                "bytesRead": result.bytes_read,
                "shareRead": result.bytes_read / result.size,
                "medianSeconds": statistics.median(times),
                "maxSeconds": max(times),
            }
            rows.append(row)
            print(
                f"{kind:8} {row['imageId']:12} {result.size / (1 << 30):.1f} GiB  "
                f"read {result.bytes_read:7d} bytes ({row['shareRead'] * 100:.5f} %)  "
                f"median {row['medianSeconds'] * 1000:.2f} ms  "
                f"max {row['maxSeconds'] * 1000:.2f} ms"
            )
            path.unlink()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"osinfoLoadSeconds": load_s, "sizeBytes": size, "dense": args.dense, "media": rows},
            indent=2,
        )
    )
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
