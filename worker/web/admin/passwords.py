"""Admin passwords: argon2id hashes (argon2-cffi) and what counts as too weak.

Verification always runs the hasher once, against a dummy hash made with the
same parameters when there is no account to check, so a login takes as long
for an unknown or locked account as for a wrong password.  The process's one
`Passwords` is a runtime part (`passwords_of`): tests may give cheaper
parameters, and a hash made with other parameters than the current ones is
replaced at the next login.
"""

from __future__ import annotations

import threading
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from worker.core.runtime import Runtime

MIN_LENGTH = 12
MIN_DISTINCT = 6
MAX_LENGTH = 1024  # longer inputs are refused before hashing (a cheap way to burn CPU)


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def _dummy_hash(self) -> str:
        with self._lock:
            if self._dummy is None:
                self._dummy = self.hasher.hash("no account has this password")
            return self._dummy

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no hash, the same work against the dummy one."""
        given = password if len(password) <= MAX_LENGTH else ""
        try:
            matched = self.hasher.verify(stored_hash or self._dummy_hash(), given)
        except (VerificationError, InvalidHashError):
            return False
        return matched and stored_hash is not None and given == password

    def needs_rehash(self, stored_hash: str) -> bool:
        """The hasher's parameters changed since this hash was made."""
        return self.hasher.check_needs_rehash(stored_hash)


def passwords_of(runtime: Runtime) -> Passwords:
    return runtime.part("admin_passwords", Passwords)


def password_problem(email: str, password: str) -> str | None:
    """Why `password` is refused for `email`, or None when it will do."""
    if not password.strip():
        return "the password is empty"
    if len(password) < MIN_LENGTH:
        return f"the password is shorter than {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"the password is longer than {MAX_LENGTH} characters"
    categories = {unicodedata.category(char) for char in password}
    if "Cs" in categories:  # bytes that were not UTF-8, kept by the surrogateescape handler
        return "the password is not UTF-8 text"
    if "Cc" in categories:
        return "the password holds a control character (tab, line break, NUL) no login form sends"
    if len(set(password)) < MIN_DISTINCT:
        return f"the password uses fewer than {MIN_DISTINCT} different characters"
    local_part = email.partition("@")[0].lower()
    if len(local_part) >= 4 and local_part in password.lower():
        return "the password contains the email address"
    return None
