"""Files only the service's own user may read: the signing key file and the embedded database.

The key file can forge every link; the SQLite file (and its -wal/-shm/-journal
companions) holds subscribers' addresses and the conditions they follow.
Both are created mode 0600 from the start, never written first and narrowed
after.  One found open to other users is tightened to 0600, with a warning
naming it: the modes are the protection, so they are restored rather than
merely reported.  SQLite gives its companion files the database file's mode.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def create_private(path: Path, text: str) -> bool:
    """Write `text` to the new file `path`, owner-only; False when `path` exists already.

    Written under a temporary name and linked into place: nobody ever reads a
    half-written file, and of two processes creating it at once exactly one wins.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        temporary.unlink(missing_ok=True)


class NotOwnFile(Exception):
    """Not a regular file of the expected owner; the message says what it is instead."""


def read_own_file(path: Path, owner: int | None) -> str:
    """The text of the regular file `path` (never through a symbolic link), made private first.

    The checks and the read go through one descriptor: a link planted in the
    file's place (to /etc/passwd, to another user's file) can neither pass
    the owner check with its target's owner nor have that target's mode
    changed. NotOwnFile for a link, no regular file, or another `owner`
    (None: any owner will do); OSError when it cannot be read.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if path.is_symlink():
            raise NotOwnFile("is a symbolic link") from error
        raise
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise NotOwnFile("is not a regular file")
        if owner is not None and info.st_uid != owner:
            raise NotOwnFile(f"belongs to another user (uid {info.st_uid})")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            os.fchmod(descriptor, PRIVATE)
            log.warning("%s was open to other users (mode %04o): now 0600", path, mode)
        return handle.read().decode("utf-8")


def keep_private(path: Path) -> None:
    """Tighten an existing file that other users may read or write to 0600 (a warning says so)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & 0o077:
        return
    try:
        path.chmod(PRIVATE)
    except OSError as error:
        log.warning("%s is open to other users (mode %04o) and stays so: %s", path, mode, error)
        return
    log.warning("%s was open to other users (mode %04o): now 0600", path, mode)


def private_sqlite_file(path: Path) -> None:
    """Before SQLite opens `path`: create it owner-only, or tighten it and its companions."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
    except FileExistsError:
        pass
    except OSError:
        return  # no such folder, read-only: SQLite reports it in its own words
    for name in ("", *SQLITE_COMPANIONS):
        keep_private(Path(f"{path}{name}"))
