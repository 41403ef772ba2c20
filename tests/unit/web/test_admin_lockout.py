"""Five failed logins within 15 minutes lock an account for 15 minutes from the fifth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from worker.web.admin.lockout import is_locked, locked_until
from worker.web.admin.passwords import password_problem

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def minutes(*values: float) -> list[datetime]:
    return [T0 + timedelta(minutes=value) for value in values]


def test_the_fifth_failure_within_fifteen_minutes_locks_for_fifteen_minutes() -> None:
    failures = minutes(0, 1, 2, 3, 14)
    assert locked_until(failures) == T0 + timedelta(minutes=29)
    assert not is_locked(minutes(0, 1, 2, 3), T0 + timedelta(minutes=4))
    assert is_locked(failures, T0 + timedelta(minutes=28, seconds=59))
    assert not is_locked(failures, T0 + timedelta(minutes=29))


def test_failures_more_than_fifteen_minutes_apart_do_not_add_up() -> None:
    assert locked_until(minutes(0, 4, 8, 12, 15, 19, 23, 27)) is None


def test_tries_while_locked_neither_extend_the_lock_nor_count_towards_the_next() -> None:
    failures = minutes(0, 1, 2, 3, 4, 5, 10, 18.9)
    assert locked_until(failures) == T0 + timedelta(minutes=19)
    # After the lock: four more failures are not yet a lock, the fifth is.
    assert locked_until([*failures, *minutes(19, 20, 21, 22)]) == T0 + timedelta(minutes=19)
    assert locked_until([*failures, *minutes(19, 20, 21, 22, 23)]) == T0 + timedelta(minutes=38)


def test_weak_passwords_are_refused() -> None:
    email = "grace@example.org"
    assert password_problem(email, "") == "the password is empty"
    assert password_problem(email, "            ") == "the password is empty"
    assert password_problem(email, "short1!") is not None
    assert password_problem(email, "aaaaaaaaaaaaaaaa") is not None
    assert password_problem(email, "grace-grace-2026!") == "the password contains the email address"
    assert password_problem(email, "x" * 1025 + "abcdef") is not None
    assert password_problem(email, "correct horse battery staple") is None


def test_passwords_no_login_form_can_send_are_refused() -> None:
    email = "grace@example.org"
    not_utf8 = b"\xff\xfecorrect horse battery".decode("utf-8", "surrogateescape")
    assert password_problem(email, not_utf8) == "the password is not UTF-8 text"
    for control in ("\r", "\t", "\x00", "\x1b", "\x85"):
        problem = password_problem(email, f"correct horse{control}battery")
        assert problem is not None and "control character" in problem, repr(control)
    assert password_problem(email, "correct\u00a0horse battery") is None  # a no-break space
