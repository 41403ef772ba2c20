"""Admin accounts: add, remove and list them, and check a login against its lockout.

A login attempt is written down as a failure before its password is checked
and deleted again when it succeeds: attempts running at the same time in
other workers count against the lock at once, so parallel guesses get no
more tries than serial ones.  An attempt made while the account is locked is
deleted too: it does not count, and kept it would outlive the failures that
locked the account (only RELEVANT is read back) and count towards a new lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from worker.core.audit import record_audit
from worker.core.models import AdminLoginFailure, AdminUser, new_link_key
from worker.core.sql import storable_text
from worker.web.admin.lockout import RELEVANT, is_locked
from worker.web.admin.passwords import Passwords, password_problem

MAX_EMAIL = 320
FAILURES_KEPT = timedelta(days=1)  # older failures are deleted as new ones come in


class AccountError(Exception):
    """An account cannot be added or removed; the message says why."""


@dataclass(frozen=True)
class AdminAccount:
    email: str
    created_at: datetime
    last_login_at: datetime | None


def login_email(email: str) -> str:
    """Addresses are kept lower-case; a login is looked up (and throttled) the same way.

    NUL, which PostgreSQL cannot store, becomes U+FFFD: still no account's address.
    """
    return storable_text(email.strip().lower()[:MAX_EMAIL])


def add_admin(
    session: Session, passwords: Passwords, email: str, password: str, actor: str, now: datetime
) -> None:
    address = login_email(email)
    problem = password_problem(address, password)
    if problem:
        raise AccountError(problem)
    if session.scalar(select(AdminUser.id).where(AdminUser.email == address)) is not None:
        raise AccountError(f"{address} is already an admin (remove-user first to replace it)")
    session.add(AdminUser(email=address, password_hash=passwords.hash(password), created_at=now))
    record_audit(session, actor, "admin_user.add", address, after={"email": address}, now=now)


def remove_admin(session: Session, email: str, actor: str, now: datetime) -> None:
    """Delete the account; its open sessions end at their next request."""
    address = login_email(email)
    user = session.scalar(select(AdminUser).where(AdminUser.email == address))
    if user is None:
        raise AccountError(f"{address} is not an admin")
    before = {"email": user.email, "created_at": user.created_at}
    session.delete(user)
    record_audit(session, actor, "admin_user.remove", address, before=before, now=now)


def list_admins(session: Session) -> list[AdminAccount]:
    rows = session.execute(
        select(AdminUser.email, AdminUser.created_at, AdminUser.last_login_at).order_by(
            AdminUser.email
        )
    )
    return [AdminAccount(row.email, row.created_at, row.last_login_at) for row in rows]


def _note_attempt(session: Session, address: str, now: datetime) -> tuple[int, list[datetime]]:
    """Commit this attempt as a failure; its id and the times of the failures before it."""
    attempt = AdminLoginFailure(email=address, at=now)
    with session.begin():
        session.execute(delete(AdminLoginFailure).where(AdminLoginFailure.at < now - FAILURES_KEPT))
        session.add(attempt)
        session.flush()
        attempt_id = attempt.id
    with session.begin():
        earlier = session.scalars(
            select(AdminLoginFailure.at).where(
                AdminLoginFailure.email == address,
                AdminLoginFailure.at >= now - RELEVANT,
                AdminLoginFailure.id != attempt_id,
            )
        ).all()
    return attempt_id, list(earlier)


def authenticate(
    session: Session, passwords: Passwords, email: str, password: str, now: datetime
) -> AdminUser | None:
    """The account when the password is right and the account not locked, else None.

    Every refusal does the same work (one argon2 verification, one failure
    written), whatever the reason: unknown address, locked, or wrong password.
    `session` must not be in a transaction; the outcome is committed here.
    """
    address = login_email(email)
    attempt_id, earlier = _note_attempt(session, address, now)
    locked = is_locked(earlier, now)
    with session.begin():
        user = session.scalar(select(AdminUser).where(AdminUser.email == address))
        matched = passwords.verify(user.password_hash if user else None, password)
        if locked:
            session.execute(delete(AdminLoginFailure).where(AdminLoginFailure.id == attempt_id))
        if user is None or locked or not matched:
            return None
        session.execute(delete(AdminLoginFailure).where(AdminLoginFailure.email == address))
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash(password)
        user.last_login_at = now
    return user


def end_sessions(session: Session, admin_id: int) -> None:
    """A new session nonce: every cookie carrying the old one stops working."""
    user = session.get(AdminUser, admin_id)
    if user is not None:
        user.session_nonce = new_link_key()
