"""Job states and the rules between them.

An import job goes ``Pending`` (created by ``POST /osImages``) → ``Running`` (a file
is arriving, being verified and committed) → ``Complete``; or ends ``Stopped`` (failed,
with a message), ``Cancelled`` (by a user) or ``Expired`` is reported as ``Stopped``
with the expiry message.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETE = "Complete"
    STOPPED = "Stopped"
    CANCELLED = "Cancelled"


OPEN = frozenset({JobStatus.PENDING, JobStatus.RUNNING})
FINISHED = frozenset({JobStatus.COMPLETE, JobStatus.STOPPED, JobStatus.CANCELLED})

#: The only transitions the server makes.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.RUNNING, JobStatus.STOPPED, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset({JobStatus.COMPLETE, JobStatus.STOPPED, JobStatus.CANCELLED}),
    # A completed BUNDLE job takes its BUNDLESIG signature as a second upload.
    JobStatus.COMPLETE: frozenset({JobStatus.RUNNING}),
    JobStatus.STOPPED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


def can_transition(old: JobStatus, new: JobStatus) -> bool:
    return new in TRANSITIONS[old]


#: the description an export job starts with (services/profile_archives.py)
EXPORT_PREFIX = "Export of the customised profile "


def is_export(description: str) -> bool:
    return description.startswith(EXPORT_PREFIX)


#: the description of a deployment's job starts with this (services/deploy.py)
DEPLOY_PREFIX = "Deployment of "


def is_deployment(description: str) -> bool:
    return description.startswith(DEPLOY_PREFIX)
