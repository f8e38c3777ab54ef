"""``create_app``: the ASGI application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from osdepot import logsetup, memory
from osdepot.config import Settings
from osdepot.domain.text import escape_controls
from osdepot.errors import DownloadCut, OsdepotError, StoreUnavailable, error
from osdepot.messages import Messages
from osdepot.services.auth import Auth
from osdepot.services.context import Context, catalog_words
from osdepot.services.jobs import Jobs
from osdepot.services.nodes import Nodes
from osdepot.services.orphans import sweep_orphans, sweep_staging
from osdepot.services.startup import preload_media_database
from osdepot.web import (
    deploy,
    downloads,
    guard,
    observe,
    openapi,
    osimages,
    pieces,
    profiles,
    remote,
    resumable,
    sessions,
    tasks,
    ui,
    users,
)
from osdepot.web.common import (
    BASIC_CHALLENGE,
    SESSION_CHALLENGE,
    ctx_of,
    error_response,
    failed,
)

log = logging.getLogger("osdepot.web")


def _both(path: str, endpoint: Any, methods: list[str]) -> list[Route]:
    """A collection path with and without the trailing slash (pylxca posts to /osImages/)."""
    return [Route(path, endpoint, methods=methods), Route(path + "/", endpoint, methods=methods)]


#: Starlette tries the routes in order: the one clients poll (GET /tasks/{id}) comes
#: first, so that it is found at once. No other route matches a /tasks path, so the order
#: changes nothing else.
ROUTES = [
    Route("/tasks/{ids}", tasks.get_tasks, methods=["GET"]),
    *_both("/tasks", tasks.list_tasks, ["GET"]),
    *_both("/tasks", tasks.put_tasks, ["PUT"]),
    Route("/tasks/{ids}", tasks.put_task_ids, methods=["PUT"]),
    Route("/tasks/{ids}", tasks.delete_tasks, methods=["DELETE"]),
    Route("/", ui.index, methods=["GET"]),
    Route("/ui/{name}", ui.asset, methods=["GET"]),
    Route("/healthz", observe.healthz, methods=["GET"]),
    Route("/metrics", observe.metrics_endpoint, methods=["GET"]),
    Route("/openapi.json", openapi.document, methods=["GET"]),
    *_both("/sessions", sessions.login, ["POST"]),
    *_both("/sessions", sessions.logout, ["DELETE"]),
    *_both("/aicc", sessions.aicc, ["GET"]),
    *_both("/osImages", osimages.list_images, ["GET"]),
    *_both("/osImages", osimages.create_job, ["POST"]),
    *_both("/osImages", osimages.delete_nothing, ["DELETE"]),
    *_both("/osImages/remoteFileServers", remote.list_servers, ["GET"]),
    *_both("/osImages/remoteFileServers", remote.create_server, ["POST"]),
    Route("/osImages/remoteFileServers/{sid}", remote.get_server, methods=["GET"]),
    Route("/osImages/remoteFileServers/{sid}", remote.update_server, methods=["PUT"]),
    Route("/osImages/remoteFileServers/{sid}", remote.delete_server, methods=["DELETE"]),
    *_both("/osImages/customSettings", profiles.custom_settings, ["POST"]),
    Route("/osImages/{image_id}/links", downloads.make_image_link, methods=["POST"]),
    Route("/osImages/{image_id}/tree/{path:path}", downloads.tree, methods=["GET"]),
    Route("/osImages/{ids:path}", osimages.delete_objects, methods=["DELETE"]),
    Route("/osImages/{ids:path}", profiles.export_or_archive, methods=["GET"]),
    Route("/osImages/{ids:path}", profiles.customise, methods=["POST"]),
    Route("/osImages/{ids:path}", profiles.modify, methods=["PUT"]),
    *_both("/files/osImages/uploads", resumable.options, ["OPTIONS"]),
    *_both("/files/osImages/uploads", resumable.create, ["POST"]),
    Route("/files/osImages/uploads/{upload_id}", resumable.options, methods=["OPTIONS"]),
    Route("/files/osImages/uploads/{upload_id}", resumable.head, methods=["HEAD", "GET"]),
    Route("/files/osImages/uploads/{upload_id}", resumable.patch, methods=["PATCH", "POST"]),
    Route("/files/osImages/uploads/{upload_id}", resumable.delete, methods=["DELETE"]),
    *_both("/files/osImages", osimages.upload, ["POST"]),
    Route("/files/osImages/{fid}", downloads.download, methods=["GET"]),
    Route("/files/osImages/{fid}/links", downloads.list_links, methods=["GET"]),
    Route("/files/osImages/{fid}/links", downloads.make_file_link, methods=["POST"]),
    Route("/files/osImages/{fid}/links/{lid}", downloads.revoke_link, methods=["DELETE"]),
    Route("/links/{token}", downloads.by_link, methods=["GET"]),
    Route("/links/{token}/{path:path}", downloads.by_tree_link, methods=["GET"]),
    Route("/jobs/{ids}", tasks.put_task_ids, methods=["PUT"]),
    *_both("/hostPlatforms", deploy.list_platforms, ["GET"]),
    *_both("/hostPlatforms", deploy.deploy, ["PUT"]),
    Route("/hostPlatforms/{uuid}", deploy.get_platform, methods=["GET"]),
    Route("/hostPlatforms/{uuid}", deploy.report_status, methods=["PUT"]),
    Route("/deployments/{token}/{name}", deploy.deployment_file, methods=["GET"]),
    *_both("/osdeployment/globalSettings", deploy.get_global_settings, ["GET"]),
    *_both("/osdeployment/globalSettings", deploy.put_global_settings, ["PUT"]),
    *_both("/osdeployment/hostSettings", deploy.list_host_settings, ["GET"]),
    *_both("/osdeployment/hostSettings", deploy.save_host_settings, ["POST", "PUT"]),
    Route("/osdeployment/hostSettings/{uuid}", deploy.get_host_settings, methods=["GET"]),
    Route("/osdeployment/hostSettings/{uuid}", deploy.delete_host_settings, methods=["DELETE"]),
    *_both("/bmcs", deploy.list_bmcs, ["GET"]),
    *_both("/bmcs", deploy.add_bmc, ["POST"]),
    Route("/bmcs/{bid}", deploy.get_bmc, methods=["GET"]),
    Route("/bmcs/{bid}", deploy.delete_bmc, methods=["DELETE"]),
    Route("/bmcs/{bid}/refresh", deploy.refresh_bmc, methods=["POST"]),
    *_both("/userAccounts", users.list_accounts, ["GET"]),
    Route("/userAccounts/{name}", users.update_account, methods=["PUT"]),
]


async def _osdepot_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OsdepotError)
    if exc.delay:
        await asyncio.sleep(exc.delay)  # a failed login: only this request waits
    # Only a client that speaks Basic (it sent Basic credentials) is challenged for
    # them; browsers and the web UI get a challenge they do not act on.
    basic = request.headers.get("authorization", "")[:6].lower() == "basic "
    return error_response(exc, BASIC_CHALLENGE if basic else SESSION_CHALLENGE)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        path = escape_controls(request.url.path[:200])
        return error_response(
            error(
                Messages.NOT_FOUND,
                what="Endpoint",
                name=path,
                detail="osdepot serves no such path; /openapi.json lists the ones it serves.",
            )
        )
    if exc.status_code == 405:
        return failed(
            405,
            Messages.NOT_SUPPORTED.render(
                {"detail": "This method is not supported on this endpoint."}
            ),
        )
    return failed(
        exc.status_code,
        Messages.INVALID_VALUE.render({"name": "request", "detail": str(exc.detail)}),
    )


async def _catalog_busy(request: Request, exc: Exception) -> Response:
    """A catalog that stayed busy is answered 503 with a message."""
    seconds = f"{ctx_of(request).settings.db_busy_timeout:g}"
    log.warning("catalog busy: %s", str(exc).splitlines()[0])
    resp = error_response(error(Messages.CATALOG_BUSY, seconds=seconds))
    resp.headers["Retry-After"] = "2"
    return resp


async def _catalog_full(request: Request, exc: Exception) -> Response:
    """A catalog whose disk is full is answered 507 with a message."""
    reason, freed = await _full_disk(ctx_of(request), exc, "a request")
    reserve = ""
    if freed:
        reserve = (
            f" osdepot gave back the {freed // (1024 * 1024)} MiB it keeps on that disk for "
            "this case: deleting files from the repository works now."
        )
    return error_response(error(Messages.CATALOG_FULL, reason=reason, reserve=reserve))


async def _full_disk(ctx: Context, exc: Exception, what: str) -> tuple[str, int]:
    """The database's words for a full disk, and the bytes of the room osdepot keeps on
    that disk (storage/reserve.py), given back so that deletions work; logged in one
    line (every write fails the same way until space is freed)."""
    reason = catalog_words(exc)
    freed = await ctx.run(ctx.release_reserve)
    log.error(
        "%s: the catalog's disk is full (%s; reserve released: %d bytes)", what, reason, freed
    )
    return reason, freed


async def _catalog_error(request: Request, exc: Exception) -> Response:
    """An error of the catalog's driver (whose types the context names): 503 with a
    message when the catalog stayed busy or cannot be reached, 507 when its disk is
    full, 400 for a value it does not store, an internal error otherwise."""
    if ctx_of(request).busy(exc):
        return await _catalog_busy(request, exc)
    if ctx_of(request).full(exc):
        return await _catalog_full(request, exc)
    if ctx_of(request).unreachable(exc):
        reason = catalog_words(exc)
        log.warning("catalog unreachable: %s", reason)
        resp = error_response(error(Messages.CATALOG_UNAVAILABLE, reason=reason))
        resp.headers["Retry-After"] = "5"
        return resp
    if ctx_of(request).unstorable(exc):
        log.info("refused a value the catalog does not store: %s", str(exc).splitlines()[0])
        return error_response(
            error(
                Messages.INVALID_VALUE,
                name="request",
                detail="A value of the request holds a NUL character (U+0000), which "
                "osdepot does not store. Nothing was changed.",
            )
        )
    return await _internal_error(request, exc)


async def _store_unavailable(_request: Request, exc: Exception) -> Response:
    """The blob store cannot be reached: 503 with a message, to retry later."""
    log.warning("blob store unavailable: %s", exc)
    resp = error_response(error(Messages.STORE_UNAVAILABLE, detail=str(exc)))
    resp.headers["Retry-After"] = "5"
    return resp


async def _internal_error(_request: Request, exc: Exception) -> Response:
    if isinstance(exc, DownloadCut):  # an expected event, once the answer has begun
        log.info("download cut: %s", exc)
    else:
        log.error("internal error", exc_info=exc)
    return error_response(error(Messages.INTERNAL, detail=type(exc).__name__))


def create_app(settings: Settings | None = None, ctx: Context | None = None) -> Starlette:
    """The application on ``ctx`` (``settings`` is accepted for the callers that pass
    both; ``ctx.settings`` rule). ``osdepot.compose`` opens a context from settings;
    recovery is the caller's job, before serving (see ``osdepot serve``)."""
    if ctx is None:
        raise TypeError("create_app needs a context: osdepot.compose.create_app opens one")
    if not logging.getLogger().handlers:
        # A worker process of `osdepot serve --workers N` starts without logging.
        logsetup.configure(ctx.settings.log_level, ctx.settings.log_format)
    the_ctx = ctx

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        memory.tune_malloc()  # each serving process (see osdepot/memory.py)
        stop = asyncio.Event()
        rounds = [
            asyncio.create_task(_housekeeping(the_ctx, stop)),
            asyncio.create_task(_nodes(the_ctx, stop)),
        ]
        preload = asyncio.create_task(preload_media_database(the_ctx))
        try:
            yield
        finally:
            await _stop_rounds(stop, rounds)
            with contextlib.suppress(Exception):
                await preload
            # Remote imports still running end as interrupted, their staging removed.
            await the_ctx.running.stop(timeout=10)
            with contextlib.suppress(Exception):
                await the_ctx.run(Nodes(the_ctx).leave)

    app = Starlette(
        routes=ROUTES,
        middleware=[
            Middleware(pieces.Pieces, stall=float(ctx.settings.download_stall_timeout)),
            Middleware(observe.Observe),
            Middleware(guard.Guard),
        ],
        lifespan=lifespan,
        exception_handlers={
            OsdepotError: _osdepot_error,
            HTTPException: _http_error,
            **dict.fromkeys(ctx.catalog_errors, _catalog_error),
            StoreUnavailable: _store_unavailable,
            Exception: _internal_error,
        },
    )
    app.router.redirect_slashes = False
    app.state.ctx = ctx
    app.state.auth = Auth(ctx)
    app.state.store_probe = observe.StoreProbe()
    return app


#: How long the shutdown waits for a round of the background work to end.
ROUND_STOP_TIMEOUT = 30.0


async def _stop_rounds(stop: asyncio.Event, rounds: list[asyncio.Task[None]]) -> None:
    """End the background rounds between two calls, never during one: a task cancelled
    while its call runs in a worker thread leaves that thread going (asyncio's
    cancellation does not stop a thread), still holding a catalog connection when the
    context closes its engines. Cancelled only if a round outlasts the timeout."""
    stop.set()
    _done, late = await asyncio.wait(rounds, timeout=ROUND_STOP_TIMEOUT)
    for t in late:
        log.warning("a background round did not end within %.0f s", ROUND_STOP_TIMEOUT)
        t.cancel()
    for t in rounds:
        with contextlib.suppress(asyncio.CancelledError):
            await t


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _round_failed(ctx: Context, what: str, exc: Exception) -> None:
    """A background round failed: logged with its traceback, a full catalog disk (the
    room kept on it given back) and a catalog that cannot be reached in one line."""
    if ctx.full(exc):
        await _full_disk(ctx, exc, what)
    elif ctx.unreachable(exc):
        reason = catalog_words(exc)
        log.warning("%s: the catalog cannot be reached (%s)", what, reason)
    else:
        log.error("%s failed", what, exc_info=exc)


async def _nodes(ctx: Context, stop: asyncio.Event) -> None:
    """This process's heartbeat, and the watch over the other nodes of the catalog."""
    nodes = Nodes(ctx)
    while not stop.is_set():
        try:
            await ctx.run(nodes.beat)
            await ctx.run(nodes.sweep)
        except Exception as exc:
            await _round_failed(ctx, "node heartbeat", exc)
        await _pause(stop, max(ctx.settings.node_timeout / 3, 0.1))


async def _housekeeping(ctx: Context, stop: asyncio.Event) -> None:
    jobs = Jobs(ctx)
    every = ctx.settings.orphan_sweep_interval  # start-up recovery swept first
    sweep_at = time.monotonic() + every
    while not stop.is_set():
        try:
            expired, purged = await ctx.run(jobs.housekeeping)
            if expired or purged:
                log.info("housekeeping: %d jobs expired, %d old jobs removed", expired, purged)
        except Exception as exc:
            await _round_failed(ctx, "housekeeping", exc)
        if every > 0 and time.monotonic() >= sweep_at:
            sweep_at = time.monotonic() + every
            await _sweep(ctx)
        await _pause(stop, ctx.settings.housekeeping_interval)


async def _sweep(ctx: Context) -> None:
    """Remove the orphan blobs and the staging areas nothing names
    (services/orphans.py); an object store that is down is said in a line, and tried
    again at the next sweep."""
    try:
        grace = ctx.settings.orphan_grace
        removed = await ctx.run(sweep_orphans, ctx, grace)
        staging = await ctx.run(sweep_staging, ctx, grace)
        if removed or staging:
            log.info(
                "housekeeping: %d orphan blobs and %d staging leftovers removed",
                removed,
                staging,
            )
    except StoreUnavailable as exc:
        every = ctx.settings.orphan_sweep_interval
        log.warning("orphan sweep: %s; tried again in %g s", exc, every)
    except Exception as exc:
        await _round_failed(ctx, "orphan sweep", exc)
