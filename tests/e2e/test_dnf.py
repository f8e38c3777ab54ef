"""A real yum repository inside a stored ISO, read by Debian's dnf through a signed tree
link: an RPM built here (rpmbuild), its repository made by createrepo_c, the ISO
imported (and checked against its own repomd.xml), and dnf makes its cache and
downloads the package (``install --downloadonly``) from the link — no login, no
extraction, no mount."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Server
from tests.e2e.test_cli_client import Cli
from tests.media import make_iso, rhel_like_files
from tests.shared import missing

pytestmark = pytest.mark.e2e

SPEC = """Name: osdepot-hello
Version: 1.0
Release: 1
Summary: A package for osdepot's tests
License: MIT
BuildArch: noarch
%description
A package for osdepot's tests.
%install
mkdir -p %{buildroot}/usr/share/osdepot-hello
echo hello > %{buildroot}/usr/share/osdepot-hello/hello.txt
%files
/usr/share/osdepot-hello/hello.txt
"""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, f"{args}: {r.stdout}\n{r.stderr}"
    return r


def repository(work: Path) -> dict[str, bytes]:
    """The files of a BaseOS repository holding one real RPM."""
    for tool in ("rpmbuild", "createrepo_c", "dnf"):
        if not shutil.which(tool):
            missing(f"{tool} (Debian packages rpm, createrepo-c, dnf)")
    spec = work / "hello.spec"
    spec.write_text(SPEC)
    run("rpmbuild", "--define", f"_topdir {work / 'top'}", "--quiet", "-bb", str(spec))
    repo = work / "BaseOS"
    (repo / "Packages").mkdir(parents=True)
    for rpm in (work / "top" / "RPMS" / "noarch").glob("*.rpm"):
        shutil.copy(rpm, repo / "Packages" / rpm.name)
    run("createrepo_c", "-q", str(repo))
    return {f"BaseOS/{p.relative_to(repo)}": p.read_bytes() for p in repo.rglob("*") if p.is_file()}


def test_dnf_reads_a_repository_out_of_a_stored_iso(server: Server, tmp_path: Path) -> None:
    files = rhel_like_files()
    for name in [n for n in files if n.startswith("BaseOS/")]:
        del files[name]
    files.update(repository(tmp_path))
    # Rock Ridge names (repodata files are named after their 64-digit checksums).
    iso = make_iso(
        tmp_path / "rhel-9.4-dvd.iso", files, volume_id="RHEL-9-4-0-BaseOS-x86_64", joliet=False
    )
    cli = Cli(server, tmp_path / "config")
    cli.login()
    r = cli("import", str(iso), "--quiet")
    assert r.returncode == 0, r.stderr
    r = cli("link", "rhels9.4")
    assert r.returncode == 0, r.stderr
    root = r.stdout.strip()
    ca = str(server.data_dir / "tls" / "cert.pem")
    out = tmp_path / "downloaded"
    dnf = [
        "dnf", "-q", "-y",
        f"--installroot={tmp_path / 'root'}",
        "--setopt=reposdir=/dev/null",
        f"--setopt=cachedir={tmp_path / 'cache'}",
        "--releasever=9",
        f"--repofrompath=osdepot,{root}BaseOS",
        "--repo=osdepot",
        f"--setopt=osdepot.sslcacert={ca}",
        "--setopt=osdepot.gpgcheck=0",
    ]  # fmt: skip
    run(*dnf, "makecache")
    run(*dnf, "install", "--downloadonly", f"--downloaddir={out}", "osdepot-hello")
    (got,) = out.glob("osdepot-hello-1.0-1.noarch.rpm")
    want = files["BaseOS/Packages/osdepot-hello-1.0-1.noarch.rpm"]
    assert hashlib.sha256(got.read_bytes()).digest() == hashlib.sha256(want).digest()
