"""Users, passwords, sessions and privileges."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from osdepot.domain.records import LoginFailures, Session, User
from osdepot.domain.roles import (
    JOB_ADMIN_ROLES,
    ROLES,
    SUPERVISOR,
    Privilege,
    has_privilege,
    normalise_role,
)
from osdepot.errors import Duplicate, OsdepotError, error
from osdepot.messages import Messages
from osdepot.services.context import Context
from osdepot.services.gate import PasswordGate

log = logging.getLogger("osdepot.auth")

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so that the time taken
    does not tell whether a user name exists. Made on first use: at import it cost
    every process (the server, each CLI command) one hash, ~0.2 s."""
    return _hasher.hash("osdepot-no-such-user")


_USER_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _name_ok(name: str) -> bool:
    return 1 <= len(name) <= 64 and set(name) <= _USER_NAME_OK


def check_user_name(name: str) -> str:
    if not _name_ok(name):
        raise error(
            Messages.INVALID_VALUE,
            name="user name",
            detail="A user name has 1 to 64 letters, digits or . _ - @.",
        )
    return name


#: The longest password a user can have (check_password).
MAX_PASSWORD = 1024


def possible_credentials(name: str, password: str) -> bool:
    """Whether ``name`` and ``password`` could belong to a user at all: a name that
    follows the user-name rule (check_user_name) and a password no longer than any user
    can have. Others are refused without a password check, a catalog row, a log line or
    a cache entry: unauthenticated clients would otherwise make the server store and
    hold what they sent (a failed login's name is counted in the catalog and a lock
    remembered in memory and logged; 900 KB names were stored whole)."""
    return len(password) <= MAX_PASSWORD and _name_ok(name)


def check_password(password: str) -> str:
    if len(password) < 8 or len(password) > MAX_PASSWORD:
        raise error(
            Messages.INVALID_VALUE,
            name="password",
            detail="A password has at least 8 and at most 1024 characters.",
        )
    return password


def verify_password(user: User | None, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash if user else _dummy_hash(), password) and (
            user is not None
        )
    except (VerificationError, InvalidHashError):
        return False


class BasicCache:
    """Remembers verified Basic credentials, so that a script sending Basic auth on
    every request does not pay for an argon2 hash (64 MiB, tens of milliseconds) each
    time: for ``ttl`` seconds after their last use, and never longer than ``most``
    seconds after the password was checked. Keys are keyed hashes of the credentials
    and the stored password hash, so a password change invalidates them; a deleted
    user or a lock-out is seen through the user record (``USER_CACHE_SECONDS``) and
    the lock checks, not through this cache."""

    def __init__(self, ttl: float = 60.0, size: int = 1024, most: float = 3600.0) -> None:
        self._ttl, self._size, self._most = ttl, size, most
        self._key = secrets.token_bytes(32)
        #: digest -> (remembered until, checked at the latest until)
        self._seen: dict[bytes, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _digest(self, user: User, password: str) -> bytes:
        msg = f"{user.name}\0{user.password_hash}\0{password}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).digest()

    def check(self, user: User, password: str) -> bool:
        d = self._digest(user, password)
        now = time.monotonic()
        with self._lock:
            hit = self._seen.get(d)
            if hit is None or hit[0] <= now:
                return False
            # used: remembered for another ttl (a client that keeps sending them is
            # not made to wait for an argon2 check in the middle of its work)
            self._seen[d] = (min(now + self._ttl, hit[1]), hit[1])
            return True

    def add(self, user: User, password: str) -> None:
        d = self._digest(user, password)
        now = time.monotonic()
        with self._lock:
            if len(self._seen) >= self._size:
                self._seen.clear()
            self._seen[d] = (now + self._ttl, now + self._most)


#: Seconds a user record read for authenticating a request is reused: a deleted user,
#: a new role or a new password takes effect within this time in every process.
USER_CACHE_SECONDS = 2.0


class Auth:
    """Users, passwords, sessions and the checks behind every request: Basic credentials
    (remembered briefly), session cookies with CSRF tokens, failed-login counting per
    address and name, and the gate every password check passes."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.basic_cache = BasicCache()
        self._users: dict[str, tuple[float, User | None]] = {}
        self._users_lock = threading.Lock()
        #: locks this process has seen, for the cached paths (the catalog has them all)
        self._locks: dict[tuple[str, str], LoginFailures] = {}
        s = ctx.settings
        self.gate = PasswordGate(
            s.password_checks or os.cpu_count() or 1, s.login_rate, s.login_burst
        )

    def _user(self, name: str) -> User | None:
        """The user record for authenticating a request (briefly cached)."""
        now = time.monotonic()
        with self._users_lock:
            hit = self._users.get(name)
        if hit is not None and hit[0] > now:
            return hit[1]
        user = self.ctx.catalog.get_user(name)
        with self._users_lock:
            if len(self._users) > 4096:
                self._users.clear()
            self._users[name] = (now + USER_CACHE_SECONDS, user)
        return user

    def _cached_user(self, name: str) -> User | None:
        """The user record if it is in memory and fresh (no catalog access)."""
        with self._users_lock:
            hit = self._users.get(name)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def _forget(self, name: str) -> None:
        with self._users_lock:
            self._users.pop(name, None)

    # -- administration (CLI) ---------------------------------------------------------

    def add_user(self, name: str, role: str, password: str) -> User:
        canonical = normalise_role(role)
        if canonical is None:
            raise error(
                Messages.INVALID_VALUE,
                name="role",
                detail=f"{role!r} is not a role. Roles: {', '.join(ROLES)}.",
            )
        user = User(
            name=check_user_name(name),
            role=canonical,
            password_hash=hash_password(check_password(password)),
            created_at=self.ctx.clock(),
        )
        try:
            self.ctx.catalog.add_user(user)
        except Duplicate:
            raise error(Messages.ALREADY_EXISTS, what="User", name=user.name) from None
        return user

    def set_password(self, name: str, password: str) -> None:
        if not self.ctx.catalog.set_password(name, hash_password(check_password(password))):
            raise error(Messages.NOT_FOUND, what="User", name=name, detail="No user has this name.")
        self._forget(name)

    def delete_user(self, name: str) -> None:
        if not self.ctx.catalog.delete_user(name):
            raise error(Messages.NOT_FOUND, what="User", name=name, detail="No user has this name.")
        self._forget(name)

    def bootstrap_admin(self) -> str | None:
        """On an empty user table create the supervisor. Returns a generated password
        (to be printed once) or None."""
        if self.ctx.catalog.count_users() > 0:
            return None
        s = self.ctx.settings
        name = s.admin_user or "admin"
        password = s.admin_password or secrets.token_urlsafe(18)
        try:
            self.add_user(name, SUPERVISOR, password)
        except Exception:
            if self.ctx.catalog.count_users() > 0:  # another process won the race
                return None
            raise
        return None if s.admin_password else password

    # -- requests ---------------------------------------------------------------------
    #
    # Failed logins are counted per client address and user name, whether the name
    # exists or not: an unknown name gets the same answers, delays and lock as a known
    # one, and a lock stops the source that guesses, not the account's owner elsewhere.

    def _lock_error(self, failures: LoginFailures) -> OsdepotError:
        assert failures.locked_until is not None
        return error(
            Messages.ACCOUNT_LOCKED,
            user=failures.name,
            failures=self.ctx.settings.login_max_failures,
            until=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(failures.locked_until)),
        )

    def _check_lock(self, address: str, name: str) -> None:
        failures = self.ctx.catalog.login_failures(address, name)
        if failures.locked(self.ctx.clock()):
            self._remember_lock(failures)
            raise self._lock_error(failures)

    def _remember_lock(self, failures: LoginFailures) -> None:
        with self._users_lock:
            if len(self._locks) > 4096:
                self._locks.clear()
            self._locks[(failures.address, failures.name)] = failures

    def _failed(self, address: str, name: str) -> OsdepotError:
        """Count a failed login (session or Basic) and build its answer: held back a
        little longer at each failure, and a lock at the configured count."""
        s = self.ctx.settings
        now = self.ctx.clock()
        failures = self.ctx.catalog.record_login_failure(
            address, name, now, s.login_max_failures, s.login_lockout_seconds
        )
        if failures.locked(now):
            self._remember_lock(failures)
            log.warning(
                "logins of account %s from %s locked after %d failures",
                name,
                address,
                s.login_max_failures,
            )
            locked = self._lock_error(failures)
            locked.delay = min(s.login_failure_delay * s.login_max_failures, 5.0)
            return locked
        failed = error(Messages.LOGIN_FAILED)
        failed.delay = min(s.login_failure_delay * failures.failures, 5.0)
        return failed

    def _succeeded(self, address: str, name: str) -> None:
        if self.ctx.catalog.login_failures(address, name).failures:
            self.ctx.catalog.clear_login_failures(address, name)

    def unlock(self, name: str) -> None:
        if not self.ctx.catalog.reset_login_failures(name):
            raise error(Messages.NOT_FOUND, what="User", name=name, detail="No user has this name.")
        self._forget(name)
        with self._users_lock:
            for key in [k for k in self._locks if k[1] == name]:
                del self._locks[key]
        log.info("account %s unlocked", name)

    async def _known_lock(self, address: str, name: str) -> None:
        """Refuse at once, before the gate, a pair this process saw locked and the
        catalog still holds locked. The catalog is asked (one short read) because the
        lock may have been lifted elsewhere — ``osdepot users unlock`` in another
        process, a supervisor's PUT on another worker — and then it no longer counts."""
        with self._users_lock:
            lock = self._locks.get((address, name))
        if lock is None or not lock.locked(self.ctx.clock()):
            return
        current = await self.ctx.read(lambda c: c.login_failures(address, name))
        if not current.locked(self.ctx.clock()):
            with self._users_lock:
                self._locks.pop((address, name), None)
            return
        exc = self._lock_error(current)
        exc.delay = min(self.ctx.settings.login_failure_delay, 5.0)
        raise exc

    def _impossible(self) -> OsdepotError:
        """The answer to credentials no user can have (possible_credentials): the
        answer and the first delay of any failed login, nothing counted or kept."""
        failed = error(Messages.LOGIN_FAILED)
        failed.delay = min(self.ctx.settings.login_failure_delay, 5.0)
        return failed

    async def open_session(self, name: str, password: str, address: str) -> tuple[str, Session]:
        """POST /sessions: :meth:`login` through the gate, off the event loop."""
        if not possible_credentials(name, password):
            raise self._impossible()
        await self._known_lock(address, name)
        async with self.gate.check(address):
            return await self.ctx.run(self.login, name, password, address)

    def login(self, name: str, password: str, address: str) -> tuple[str, Session]:
        """Check a password (blocking) and open a session."""
        user = self.ctx.catalog.get_user(name)
        self._check_lock(address, name)
        if not verify_password(user, password):
            raise self._failed(address, name)
        assert user is not None
        self._succeeded(address, name)
        token = secrets.token_urlsafe(32)
        now = self.ctx.clock()
        session = Session(
            token_hash=token_hash(token),
            csrf=secrets.token_urlsafe(24),
            user_name=user.name,
            created_at=now,
            last_seen=now,
            address=address[:64],
        )
        if not self.ctx.catalog.add_session(session, user.password_hash):
            # the password was changed, or the user deleted, while it was checked: a
            # session opened with the old password would outlive the change
            raise error(Messages.LOGIN_FAILED)
        return token, session

    def logout(self, token: str) -> None:
        self.ctx.catalog.delete_session(token_hash(token))

    def session_user(self, token: str, csrf_header: str | None, state_changing: bool) -> User:
        th = token_hash(token)
        session = self.ctx.catalog.get_session(th)
        if session is None:
            raise error(Messages.AUTH_REQUIRED)
        now = self.ctx.clock()
        timeout = self.ctx.settings.session_timeout
        if now - session.last_seen > timeout:
            self.ctx.catalog.delete_session(th)
            raise error(Messages.SESSION_EXPIRED, seconds=timeout)
        _check_csrf(session, csrf_header, state_changing)
        user = self._user(session.user_name)
        if user is None:
            raise error(Messages.AUTH_REQUIRED)
        if self._touch_due(session, now):
            self.ctx.catalog.touch_session(th, now)
        return user

    def _touch_due(self, session: Session, now: float) -> bool:
        """Activity is recorded at most every few seconds (keeps reads cheap)."""
        return now - session.last_seen > min(5.0, self.ctx.settings.session_timeout / 10)

    # Cached paths: the checks of session_user and basic_user made on the event loop
    # thread from memory and a session read there (Context.read), for the requests of
    # clients that poll. They answer None whenever the full check is needed: a record
    # not in memory, a password to verify, a failure to count, a write due.

    def cached_session_user(
        self, session: Session | None, csrf_header: str | None, state_changing: bool
    ) -> User | None:
        if session is None or self._touch_due(session, self.ctx.clock()):
            return None  # unknown, expired, or activity to record
        _check_csrf(session, csrf_header, state_changing)
        return self._cached_user(session.user_name)

    def cached_basic_user(self, name: str, password: str, address: str = "") -> User | None:
        user = self._cached_user(name)
        if user is None or not self.basic_cache.check(user, password):
            return None
        with self._users_lock:
            lock = self._locks.get((address, name))
        if lock is not None and lock.locked(self.ctx.clock()):
            return None  # the full check answers it
        return user

    async def basic_user(self, name: str, password: str, address: str) -> User:
        """The user of Basic credentials: remembered ones at once, others through the
        gate (a password check)."""
        if not possible_credentials(name, password):
            raise self._impossible()
        user = self.cached_basic_user(name, password, address)
        if user is not None:
            return user
        await self._known_lock(address, name)
        async with self.gate.check(address):
            return await self.ctx.run(self._basic_user, name, password, address)

    def _basic_user(self, name: str, password: str, address: str) -> User:
        user = self._user(name)
        self._check_lock(address, name)
        if user is not None and self.basic_cache.check(user, password):
            return user
        if not verify_password(user, password):
            raise self._failed(address, name)
        assert user is not None
        self._succeeded(address, name)
        self.basic_cache.add(user, password)
        return user


def _check_csrf(session: Session, csrf_header: str | None, state_changing: bool) -> None:
    """A state-changing request of a session must carry the session's CSRF token."""
    if state_changing and not (
        csrf_header and hmac.compare_digest(csrf_header.encode(), session.csrf.encode())
    ):
        raise error(Messages.CSRF)


def require(user: User, privilege: Privilege | None) -> None:
    """403 unless ``user``'s role holds ``privilege`` (None: any authenticated user)."""
    if privilege is not None and not has_privilege(user.role, privilege):
        raise error(Messages.FORBIDDEN, user=user.name, privilege=privilege.value, role=user.role)


def is_job_admin(user: User) -> bool:
    return user.role in JOB_ADMIN_ROLES
