"""Prometheus metrics (``GET /metrics``), all named ``osdepot_*``.

Counters and histograms live in the server process that counts them. With
``osdepot serve --workers N`` every worker writes them to files in one folder
(prometheus_client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``, set by
``osdepot serve`` before the workers start), and whichever worker answers
``/metrics`` adds them up. What the repository holds (jobs by state, images, files,
bytes) is read from the catalog at each scrape, so every worker gives the same answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from osdepot.ports import Catalog

CONTENT_TYPE = CONTENT_TYPE_LATEST
# The *_created series (one per label set) double the output for nothing a scraper uses.
disable_created_metrics()  # type: ignore[no-untyped-call]

BYTES_RECEIVED = Counter(
    "osdepot_upload_bytes_received",
    "Bytes of files received, by uploads (upload) and remote imports (remote).",
    ["source"],
)
BYTES_SENT = Counter(
    "osdepot_download_bytes_sent",
    "Bytes of downloads sent, by how: sendfile (zero copy, plain TCP) or buffered "
    "(read into memory, then written; TLS, object stores, several ranges).",
    ["how"],
)
UPLOADS_IN_FLIGHT = Gauge(
    "osdepot_uploads_in_flight",
    "Uploads and remote imports receiving a file right now.",
    ["source"],
    multiprocess_mode="livesum",
)
IMPORTS = Counter(
    "osdepot_imports",
    "Imports that ended, by image type and result (complete, stopped, cancelled).",
    ["image_type", "result"],
)
IMPORT_DURATION = Histogram(
    "osdepot_import_duration_seconds",
    "Time from the first byte of a file to its commit or failure.",
    ["image_type", "result"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 14400),
)
IMPORT_FAILURES = Counter(
    "osdepot_import_failures",
    "Imports that ended without a file, by the message id the job ended with.",
    ["message_id"],
)
REQUESTS = Counter(
    "osdepot_http_requests",
    "HTTP requests answered, by method and status code.",
    ["method", "status"],
)
REQUEST_ERRORS = Counter(
    "osdepot_http_errors",
    "Error answers, by message id and status code.",
    ["message_id", "status"],
)
REQUEST_DURATION = Histogram(
    "osdepot_http_request_duration_seconds",
    "Time to answer an HTTP request (uploads included), by method.",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300),
)


class RepositoryCollector(Collector):
    """Gauges read from the catalog at each scrape: the same in every worker."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily("osdepot_jobs", "Import jobs by state.", labels=["state"])
        for state, n in sorted(self.catalog.job_counts().items()):
            jobs.add_metric([state], n)
        yield jobs
        usage = self.catalog.usage()
        yield GaugeMetricFamily("osdepot_os_images", "OS images in the repository.", usage.images)
        yield GaugeMetricFamily("osdepot_files", "Files in the repository.", usage.files)
        yield GaugeMetricFamily(
            "osdepot_repository_bytes", "Bytes stored in the repository.", usage.bytes_stored
        )
        yield GaugeMetricFamily(
            "osdepot_reserved_bytes",
            "Bytes reserved by open jobs that declared a file size.",
            usage.bytes_reserved,
        )


def render(catalog: Catalog) -> bytes:
    """The text exposition of every metric (blocking: it reads the catalog)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
    else:
        counted = REGISTRY
    repo = CollectorRegistry(auto_describe=False)
    repo.register(RepositoryCollector(catalog))
    return generate_latest(counted) + generate_latest(repo)
