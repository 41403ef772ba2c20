"""The audit log: every admin state change, written in the transaction that makes it.

Whoever changes state on an admin's behalf (a console page, a CLI command)
calls `record_audit` with the same session, so the change and its entry are
committed together or not at all.  `actor` is the admin's email address in the
console and "cli:<os user>" on the command line; `before` and `after` hold
what the change replaced and what it wrote, as JSON (None where nothing was).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from worker.core.models import AuditEntry


def _json_default(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def plain_json(value: Any) -> Any:
    """`value` as JSON reads it back (dates as ISO text); TypeError for anything else."""
    return None if value is None else json.loads(json.dumps(value, default=_json_default))


def record_audit(
    session: Session,
    actor: str,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
    *,
    now: datetime,
) -> AuditEntry:
    """Add one entry to `session` (flushed with the change it describes).

    `action` is a dotted noun.verb ("suppression.add", "admin_user.remove");
    `target` names what changed (an address, "subscriber 12").
    """
    entry = AuditEntry(
        at=now,
        actor=actor,
        action=action,
        target=target,
        before=plain_json(before),
        after=plain_json(after),
    )
    session.add(entry)
    return entry
