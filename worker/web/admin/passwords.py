"""Admin passwords: argon2id hashes (argon2-cffi's defaults) and what counts as too weak.

Verification always runs the hasher once, against a fixed dummy hash when
there is no account to check, so a login takes as long for an unknown or
locked account as for a wrong password.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MIN_DISTINCT = 6
MAX_LENGTH = 1024  # longer inputs are refused before hashing (a cheap way to burn CPU)

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("no account has this password")


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash, the same work against a dummy one."""
    given = password if len(password) <= MAX_LENGTH else ""
    try:
        matched = _hasher.verify(stored_hash or _dummy_hash(), given)
    except (VerificationError, InvalidHashError):
        return False
    return matched and stored_hash is not None and given == password


def needs_rehash(stored_hash: str) -> bool:
    """The hasher's parameters changed since this hash was made."""
    return _hasher.check_needs_rehash(stored_hash)


def password_problem(email: str, password: str) -> str | None:
    """Why `password` is refused for `email`, or None when it will do."""
    if not password.strip():
        return "the password is empty"
    if len(password) < MIN_LENGTH:
        return f"the password is shorter than {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"the password is longer than {MAX_LENGTH} characters"
    if len(set(password)) < MIN_DISTINCT:
        return f"the password uses fewer than {MIN_DISTINCT} different characters"
    local_part = email.partition("@")[0].lower()
    if len(local_part) >= 4 and local_part in password.lower():
        return "the password contains the email address"
    return None
