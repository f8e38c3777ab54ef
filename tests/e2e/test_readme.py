"""The README's shell examples, run as written against a real server.

Every ``sh`` block of README.md runs in one bash session (``set -e``, ``pipefail``),
in a folder laid out as a checkout after ``./scripts/serve``: ``.venv`` (this test
run's environment), ``osdepot-data`` (the server's data folder) and the installation
ISO the examples name. The only changes to the text: the server's address (a free
port instead of 8443) and the password the reader is asked to paste. The two set-up
blocks (``./scripts/serve``, ``./scripts/test``) are what CI itself runs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import start_server, stop_server
from tests.media import medium

README = Path(__file__).parents[2] / "README.md"
PASSWORD = "readme-admin-password"


def json_values(text: str) -> list[object]:
    """The JSON objects and arrays in ``text`` (curl prints answers without a newline,
    between the client's lines)."""
    decoder, found, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i] in "{[":
            try:
                value, end = decoder.raw_decode(text, i)
            except ValueError:
                i += 1
                continue
            found.append(value)
            i = end
        else:
            i += 1
    return found


def shell_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", README.read_text(), re.M | re.S)


def test_the_readme_runs_as_written(tmp_path: Path) -> None:
    blocks = [b for b in shell_blocks() if not b.startswith("./scripts/")]
    assert len(blocks) >= 3, "the README lost its examples"
    script = "\n".join(blocks)
    assert "https://127.0.0.1:8443" in script
    assert "PASSWORD='the password ./scripts/serve printed'" in script
    work = tmp_path / "checkout"
    work.mkdir()
    venv = Path(sys.prefix)
    assert (venv / "bin" / "osdepot").is_file(), "the client is not installed in this venv"
    (work / ".venv").symlink_to(venv)
    medium(work / "rhel-9.4-x86_64-dvd.iso", "rhel", version="9.4")
    server = start_server(
        work / "osdepot-data",
        {"OSDEPOT_ADMIN_USER": "admin", "OSDEPOT_ADMIN_PASSWORD": PASSWORD},
    )
    try:
        script = script.replace("https://127.0.0.1:8443", server.url).replace(
            "the password ./scripts/serve printed", PASSWORD
        )
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
        run = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        stop_server(server)
    out = run.stdout
    assert run.returncode == 0, f"{out}\n{run.stderr}"
    # The client's flow: logged in, imported (type guessed from the name), deleted.
    assert "Logged in to" in out
    assert "import of rhel-9.4-x86_64-dvd.iso: Complete" in out
    assert "OS image: rhels9.4" in out
    assert re.search(r"^https://127\.0\.0\.1:\d+/links/\S+/$", out, re.M), out
    assert "copy.iso (verified)" in out
    # The curl flow: the upload answered 201 with the image, the job it captured is
    # Complete, the listing holds the image, and the delete succeeded.
    answers = json_values(out)
    objects = [a for a in answers if isinstance(a, dict)]
    uploads = [a for a in objects if "fileid" in a]
    assert len(uploads) == 1 and uploads[0]["imageId"] == "rhels9.4", answers
    tasks = [t for a in answers if isinstance(a, list) for t in a if isinstance(t, dict)]
    tasks += [a for a in objects if "status" in a]
    assert any(t.get("status") == "Complete" for t in tasks), answers
    listings = [a for a in objects if "supportedImages" in a]
    assert listings and [i["id"] for i in listings[-1]["items"]] == ["rhels9.4"]
    assert objects[-1]["result"] == "success", answers
    # The profile: made with curl, exported and downloaded by the client.
    assert any(a.get("id", "").endswith("-install-Custom_web") for a in objects), answers
    assert "web.tar.gz (verified)" in out and "Custom_web: Complete" in out
    # `osdepot inspect`: the medium would be imported.
    assert re.search(r"^os:\s+Red Hat Enterprise Linux 9\.4", out, re.M), out
