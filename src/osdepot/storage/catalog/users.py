"""Users, their failed logins, and sessions."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from osdepot.domain.records import (
    LoginFailures,
    Session,
    User,
)
from osdepot.errors import Duplicate
from osdepot.storage.catalog.base import Base
from osdepot.storage.schema import (
    login_failures,
    sessions,
    users,
)


class UsersCatalog(Base):
    """The users part of :class:`osdepot.storage.catalog.SqlCatalog`."""

    # -- users ---------------------------------------------------------------------

    def add_user(self, user: User) -> None:
        try:
            with self._write() as c:
                c.execute(
                    insert(users).values(
                        name=user.name,
                        password_hash=user.password_hash,
                        role=user.role,
                        created_at=user.created_at,
                        failed_logins=0,
                    )
                )
        except IntegrityError:
            raise Duplicate("user", user.name) from None

    def get_user(self, name: str) -> User | None:
        with self._read_statement() as c:
            row = c.execute(select(users).where(users.c.name == name)).mappings().first()
        return User(**row) if row else None

    def list_users(self) -> list[User]:
        worst = (
            select(
                login_failures.c.name,
                func.max(login_failures.c.failures).label("failures"),
                func.max(login_failures.c.locked_until).label("locked"),
            )
            .group_by(login_failures.c.name)
            .subquery()
        )
        query = (
            select(
                users.c.name,
                users.c.role,
                users.c.password_hash,
                users.c.created_at,
                func.coalesce(worst.c.failures, 0).label("failed_logins"),
                worst.c.locked.label("locked_until"),
            )
            .select_from(users.outerjoin(worst, worst.c.name == users.c.name))
            .order_by(users.c.name)
        )
        with self._read_statement() as c:
            rows = c.execute(query).mappings().all()
        return [User(**r) for r in rows]

    def record_login_failure(
        self, address: str, name: str, now: float, max_failures: int, lockout: float
    ) -> LoginFailures:
        """Count one failed login of ``name`` from ``address`` (the lock when it is the
        ``max_failures``th). The count is read and written in one transaction, read
        FOR UPDATE on PostgreSQL (SQLite's writes take turns), so failures at the same
        instant are each counted: a guesser sending them in parallel gets no more
        tries than one sending them in turn."""
        try:
            return self._record_login_failure(address, name, now, max_failures, lockout)
        except IntegrityError:  # the first failure of the pair raced another's: again
            return self._record_login_failure(address, name, now, max_failures, lockout)

    def _record_login_failure(
        self, address: str, name: str, now: float, max_failures: int, lockout: float
    ) -> LoginFailures:
        key = (login_failures.c.address == address) & (login_failures.c.name == name)
        with self._write() as c:
            row = c.execute(select(login_failures).where(key).with_for_update()).mappings().first()
            failures = (int(row["failures"]) if row else 0) + 1
            locked = row["locked_until"] if row else None
            if max_failures and failures >= max_failures:
                locked, failures = now + lockout, 0
            values = {"failures": failures, "locked_until": locked, "updated_at": now}
            if row is None:
                c.execute(insert(login_failures).values(address=address, name=name, **values))
            else:
                c.execute(update(login_failures).where(key).values(**values))
        return LoginFailures(address, name, failures, locked)

    def login_failures(self, address: str, name: str) -> LoginFailures:
        key = (login_failures.c.address == address) & (login_failures.c.name == name)
        with self._read_statement() as c:
            row = c.execute(select(login_failures).where(key)).mappings().first()
        if row is None:
            return LoginFailures(address, name)
        return LoginFailures(address, name, int(row["failures"]), row["locked_until"])

    def clear_login_failures(self, address: str, name: str) -> None:
        key = (login_failures.c.address == address) & (login_failures.c.name == name)
        with self._write() as c:
            c.execute(delete(login_failures).where(key))

    def reset_login_failures(self, name: str) -> bool:
        with self._write() as c:
            c.execute(delete(login_failures).where(login_failures.c.name == name))
            n = c.execute(
                update(users).where(users.c.name == name).values(failed_logins=0, locked_until=None)
            ).rowcount
        return n == 1

    def purge_login_failures(self, before: float) -> int:
        ended = login_failures.c.locked_until.is_(None) | (login_failures.c.locked_until < before)
        with self._write() as c:
            n = c.execute(
                delete(login_failures).where((login_failures.c.updated_at < before) & ended)
            ).rowcount
        return int(n)

    def count_users(self) -> int:
        with self._read_statement() as c:
            return int(c.execute(select(func.count()).select_from(users)).scalar_one())

    def set_password(self, name: str, password_hash: str) -> bool:
        with self._write() as c:
            n = c.execute(
                update(users).where(users.c.name == name).values(password_hash=password_hash)
            ).rowcount
            c.execute(delete(sessions).where(sessions.c.user_name == name))
        return bool(n)

    def delete_user(self, name: str) -> bool:
        with self._write() as c:
            c.execute(delete(sessions).where(sessions.c.user_name == name))
            n = c.execute(delete(users).where(users.c.name == name)).rowcount
        return bool(n)

    # -- sessions ------------------------------------------------------------------

    def add_session(self, session: Session, password_hash: str) -> bool:
        with self._write() as c:
            # The user's row read FOR SHARE (on PostgreSQL; SQLite's writes take turns):
            # a password change or deletion either waits for this transaction and then
            # ends the new session with the others, or has happened and is seen here.
            current = c.execute(
                select(users.c.password_hash)
                .where(users.c.name == session.user_name)
                .with_for_update(read=True)
            ).scalar()
            if current != password_hash:
                return False
            c.execute(
                insert(sessions).values(
                    token_hash=session.token_hash,
                    csrf=session.csrf,
                    user_name=session.user_name,
                    created_at=session.created_at,
                    last_seen=session.last_seen,
                    address=session.address,
                )
            )
        return True

    _SESSION = select(sessions).where(sessions.c.token_hash == bindparam("th"))

    def get_session(self, token_hash: str) -> Session | None:
        with self._read_statement() as c:
            row = c.execute(self._SESSION, {"th": token_hash}).mappings().first()
        return Session(**row) if row else None

    def touch_session(self, token_hash: str, now: float) -> None:
        with self._write() as c:
            c.execute(
                update(sessions).where(sessions.c.token_hash == token_hash).values(last_seen=now)
            )

    def delete_session(self, token_hash: str) -> None:
        with self._write() as c:
            c.execute(delete(sessions).where(sessions.c.token_hash == token_hash))

    def purge_sessions(self, idle_before: float) -> int:
        with self._write() as c:
            return int(
                c.execute(delete(sessions).where(sessions.c.last_seen < idle_before)).rowcount
            )
