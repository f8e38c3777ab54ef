"""The room the repository has for a file: the store's free space less what open
imports reserve (a job's declared ``fileSize`` less what it received), the repository's
byte and image limits, and one user's share of the reservations.

A file whose size is known before its bytes arrive is checked once, for that size
(:func:`check_space`, :func:`check_user_reservations`); when that size is reserved —
declared by an import job, or by a resumable upload — the check is part of the
reservation's own transaction (services/admission.py). A file whose size is not known
— a chunked request body, a resumable upload created without a length, a remote file
whose server announces none — is checked as it grows (:func:`check_growth`), so that
it cannot take the space other imports reserved or pass
``OSDEPOT_MAX_REPOSITORY_BYTES``, as a request whose ``Content-Length`` says the same
size could not; it is stopped with the repository-full message.
"""

from __future__ import annotations

from osdepot.domain.images import ImageType
from osdepot.domain.records import Usage, User, UserHolding
from osdepot.errors import error
from osdepot.messages import Messages
from osdepot.services.context import Context

#: a growing file is checked again after at most this many more bytes
GROWTH_STEP = 256 * 1024 * 1024


def check_space(
    ctx: Context, size: int, itype: ImageType, exclude_own: int = 0, usage: Usage | None = None
) -> None:
    """Refuse a file of ``size`` bytes that the repository cannot hold
    (``exclude_own``: the reservation of the file's own job, counted in ``size``;
    ``usage``: what is held, read by an admission — else read now)."""
    s = ctx.settings
    if usage is None:
        usage = ctx.catalog.usage()
    reserved = max(usage.bytes_reserved - exclude_own, 0)
    free = ctx.blobs.free_bytes()
    if free is not None and size > free - reserved:
        raise error(
            Messages.REPOSITORY_FULL,
            detail=f"The file needs {size} bytes; the repository storage has {free} bytes "
            f"free, of which {reserved} are reserved by imports in progress.",
        )
    if s.max_repository_bytes and (usage.bytes_stored + reserved + size > s.max_repository_bytes):
        raise error(
            Messages.REPOSITORY_FULL,
            detail=f"The repository is limited to {s.max_repository_bytes} bytes; it holds "
            f"{usage.bytes_stored} bytes and {reserved} are reserved by imports in "
            f"progress, so {size} more bytes do not fit.",
        )
    if itype is ImageType.OS and s.max_images and usage.images >= s.max_images:
        raise error(
            Messages.REPOSITORY_FULL,
            detail=f"The repository is limited to {s.max_images} OS images and holds "
            f"{usage.images}.",
        )


def user_share(ctx: Context, holding: UserHolding) -> int | None:
    """The most one user's open jobs may hold: ``max_reserved_bytes_per_user``, or else
    half of the space free to them — the store's free space and what their open jobs
    have received already (it was free before them). None: no bound (a store that does
    not say its free space)."""
    cap = ctx.settings.max_reserved_bytes_per_user
    if cap:
        return cap
    free = ctx.blobs.free_bytes()
    return None if free is None else (free + holding.staged) // 2


def check_user_reservations(
    ctx: Context, user: User, size: int, holding: UserHolding | None = None
) -> None:
    """One user's open jobs may hold at most :func:`user_share` — each job its declared
    size, or what it received when that is more (a file of unannounced size) — so that
    no single account can keep everyone else from importing for a day (``holding``:
    read by an admission, else read now)."""
    if holding is None:
        holding = ctx.catalog.user_holding(user.name)
    cap = user_share(ctx, holding)
    if cap is not None and holding.held + size > cap:
        raise error(
            Messages.REPOSITORY_FULL,
            detail=f"Your open import jobs already hold {holding.held} bytes; with {size} "
            f"more they would hold more than the {cap} bytes one user may hold. Upload "
            "the files of your open jobs, or cancel the ones you no longer need.",
        )


def check_growth(
    ctx: Context,
    received: int,
    n: int,
    exclude_own: int = 0,
    user_name: str | None = None,
    job_id: int | None = None,
) -> int:
    """A file of unannounced size has ``received`` bytes on the store and ``n`` more
    arrive: refuse them when they do not fit (the store's free space less the others'
    reservations, the repository's byte limit — what a request's ``Content-Length`` is
    checked against before its first byte — and the share of ``user_name``, whose
    other open jobs hold what they hold, :func:`user_share`); otherwise answer how many
    bytes past ``received`` it may reach before it is checked again (at least ``n``).
    ``exclude_own``: the reservation of the file's own job ``job_id``, if it has one."""
    s = ctx.settings
    usage = ctx.catalog.usage()
    reserved = max(usage.bytes_reserved - exclude_own, 0)
    # The bytes received are off the free space, but for the few buffers not written
    # yet: a disk that fills meanwhile fails the write itself (ENOSPC, the same message).
    free = ctx.blobs.free_bytes()
    rooms = [GROWTH_STEP]
    if free is not None:
        if n > free - reserved:
            raise error(
                Messages.REPOSITORY_FULL,
                detail=f"The file, whose size was not announced, has reached {received} "
                f"bytes; the repository storage has {free} bytes free, of which {reserved} "
                "are reserved by imports in progress, so it cannot grow further. Nothing "
                "was stored.",
            )
        rooms.append(free - reserved)
    if s.max_repository_bytes:
        room = s.max_repository_bytes - usage.bytes_stored - reserved - received
        if n > room:
            raise error(
                Messages.REPOSITORY_FULL,
                detail=f"The repository is limited to {s.max_repository_bytes} bytes; it "
                f"holds {usage.bytes_stored} bytes and {reserved} are reserved by imports "
                f"in progress, so a file of {received + n} bytes or more does not fit. "
                "Nothing was stored.",
            )
        rooms.append(room)
    if user_name is not None:
        others = ctx.catalog.user_holding(user_name, exclude_job=job_id)
        cap = user_share(ctx, UserHolding(others.held, others.staged + received))
        if cap is not None:
            room = cap - others.held - received
            if n > room:
                raise error(
                    Messages.REPOSITORY_FULL,
                    detail=f"The file, whose size was not announced, has reached "
                    f"{received} bytes; your other open import jobs hold {others.held} "
                    f"bytes, and one user may hold {cap}, so it cannot grow further. "
                    "Nothing was stored.",
                )
            rooms.append(room)
    return max(min(rooms), n)
