"""GET/PUT/DELETE /tasks: import jobs as LXCA tasks (a bare JSON array)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from osdepot.domain.jobs import FINISHED, OPEN, is_deployment, is_export
from osdepot.domain.records import Job, User
from osdepot.domain.roles import Privilege, has_privilege
from osdepot.errors import error
from osdepot.messages import REMOTE_REPLY_MESSAGES, REMOTE_REPLY_WITHHELD, Messages
from osdepot.services.jobs import Jobs, parse_job_ids
from osdepot.web.common import authenticate, ctx_of, envelope, iso, json_body


def task_json(job: Job, children: bool = True, remote_replies: bool = True) -> dict[str, Any]:
    """A job as an LXCA task. Without ``remote_replies`` (a user who may not edit remote
    file servers), what a remote server answered is left out of its message."""
    msg = job.message or {}
    if not remote_replies and msg.get("id") in REMOTE_REPLY_MESSAGES:
        msg = {**msg, "explanation": REMOTE_REPLY_WITHHELD}
    d: dict[str, Any] = {
        "jobUID": str(job.id),
        "id": str(job.id),
        "uuid": job.uuid,
        "name": (
            "Export of a customised profile"
            if is_export(job.description)
            else "Deployment of an operating system"
            if is_deployment(job.description)
            else f"Import of a {job.image_type.value} file"
        ),
        "description": (
            f"Importing {job.file_name} into the OS images repository"
            if job.file_name
            and not is_export(job.description)
            and not is_deployment(job.description)
            else job.description
        ),
        "status": job.status.value,
        "percentage": job.percentage,
        "complete": job.status in FINISHED,
        "category": "OSImages",
        "typeId": (
            "OSImageExport"
            if is_export(job.description)
            else "OSDeploy"
            if is_deployment(job.description)
            else "OSImageImport"
        ),
        "createdBy": job.created_by,
        "cancelledBy": job.cancelled_by or "",
        "isCancelable": job.status in OPEN,
        "cancelURI": "/tasks",
        "createdTime": iso(job.created_at),
        "startTime": iso(job.start_time),
        "endTime": iso(job.end_time),
        "imageType": job.image_type.value,
        "fileName": job.file_name or "",
        "fileId": job.file_id or "",
        "fileSize": job.bytes_total,
        "bytesReceived": job.bytes_received,
        "messageID": msg.get("id", ""),
        "messageParameters": [],
        "messageBundle": "osdepot",
        "messageDisplay": msg.get("text", ""),
        "messages": [msg] if msg else [],
        "rebootPersistent": False,
        "hidden": False,
    }
    if children:
        d["children"] = []
    return d


def _children(request: Request) -> bool:
    return request.query_params.get("compact", "").lower() != "true"


def _replies(user: User) -> bool:
    return has_privilege(user.role, Privilege.EDIT_REMOTE_SERVERS)


async def list_tasks(request: Request) -> Response:
    user = await authenticate(request)
    jobs = await Jobs(ctx_of(request)).find(None)
    return JSONResponse([task_json(j, _children(request), _replies(user)) for j in jobs])


async def get_tasks(request: Request) -> Response:
    user = await authenticate(request)
    ids = parse_job_ids(request.path_params["ids"])
    jobs = await Jobs(ctx_of(request)).find(ids)
    return JSONResponse([task_json(j, _children(request), _replies(user)) for j in jobs])


async def put_tasks(request: Request) -> Response:
    """``{"action": "cancel", "list": ["83"]}``."""
    user = await authenticate(request, Privilege.EDIT_FILES)
    body = await json_body(request)
    if not isinstance(body, dict) or str(body.get("action", "")).lower() != "cancel":
        raise error(
            Messages.INVALID_VALUE,
            name="action",
            detail='The body must be {"action": "cancel", "list": ["<job id>", ...]}.',
        )
    raw = body.get("list")
    if not isinstance(raw, list) or not raw:
        raise error(
            Messages.MISSING_PARAMETER,
            name="list",
            detail="The list of job ids to cancel is missing or empty.",
        )
    ids = parse_job_ids(",".join(str(x) for x in raw))
    jobs = await Jobs(ctx_of(request)).cancel(user, ids)
    return JSONResponse([task_json(j) for j in jobs])


async def put_task_ids(request: Request) -> Response:
    """``PUT /tasks/{ids}`` and the legacy ``PUT /jobs/{id}``: ``{"cancelRequest": "true"}``
    cancels. Import jobs are updated only by the server, so other updates are refused."""
    user = await authenticate(request, Privilege.EDIT_FILES)
    ids = parse_job_ids(request.path_params["ids"])
    body = await json_body(request)
    if isinstance(body, dict) and str(body.get("cancelRequest", "")).lower() == "true":
        jobs = await Jobs(ctx_of(request)).cancel(user, ids)
        return JSONResponse([task_json(j) for j in jobs])
    await Jobs(ctx_of(request)).find(ids)  # 404 for unknown ids
    raise error(
        Messages.NOT_SUPPORTED,
        detail="Import jobs are updated by the server only; the only change a client "
        'can ask for is {"cancelRequest": "true"}.',
    )


async def delete_tasks(request: Request) -> Response:
    user = await authenticate(request, Privilege.EDIT_FILES)
    ids = parse_job_ids(request.path_params["ids"])
    await Jobs(ctx_of(request)).delete(user, ids)
    return envelope()
