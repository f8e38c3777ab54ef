"""nginx in front of osdepot nodes, as a load balancer: round robin, the request body
passed through as it arrives (``proxy_request_buffering off``), no body size limit,
long timeouts, TLS ended here; on 127.0.0.1 only."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from cluster.ports import wait_port


def find_nginx() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


class Balancer:
    """nginx balancing ``backends`` (ports of plain-HTTP nodes) on ``port``."""

    def __init__(
        self, nginx: str, root: Path, backends: list[int], port: int, cert: Path, key: Path
    ) -> None:
        self.root, self.port = root, port
        for sub in ("logs", "body", "proxy"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        upstream = "\n".join(
            f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in backends
        )
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = root / "nginx.conf"
        conf.write_text(
            f"""{user}daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log {root}/logs/access.log;
  client_max_body_size 0;
  client_body_temp_path {root}/body;
  proxy_temp_path {root}/proxy;
  upstream osdepot {{
{upstream}
  }}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location / {{
      proxy_pass http://osdepot;
      proxy_http_version 1.1;
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      proxy_next_upstream error timeout;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header Connection "";
    }}
  }}
}}
"""
        )
        self.log = (root / "logs" / "nginx.out").open("wb")
        self.proc = subprocess.Popen(
            [nginx, "-p", str(root), "-c", str(conf)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_port(port)

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        self.log.close()
