"""Admin subscription imports into the database: batched, idempotent, exactly counted.

Imports work a batch of rows at a time with a handful of bulk statements (no
per-row round trips), so 100k rows take seconds. They are idempotent: the
same file twice changes nothing the second time, and an export imported again
is all "unchanged". Admin imports are authoritative for a subscriber's
timezone and a subscription's frequency, and count as confirmed; they never
touch `active` or `confirmed` of a subscription that already exists, so an
import cannot undo an unsubscribe or skip a pending double opt-in.
The caller owns the transaction: these functions never commit, except through
a `checkpoint` callback, which may commit each batch (the console's apply).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any, cast

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Table,
    Text,
    any_,
    bindparam,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from worker.core.cadence import DEFAULT_SEND_HOUR
from worker.core.models import Subscriber, Subscription
from worker.core.sql import insert_ignoring_conflicts, is_postgresql
from worker.matching.criteria import CriteriaSpec, criteria_for, ensure_criteria
from worker.subscriptions.files import RowError
from worker.subscriptions.rows import SubscriptionRow
from worker.subscriptions.streams import FrequencyChange, change_frequencies

SUBSCRIBERS = cast(Table, Subscriber.__table__)
SUBSCRIPTIONS = cast(Table, Subscription.__table__)


@dataclass(frozen=True)
class ImportReport:
    """What an import did (or, in a dry run, would do); rejected rows keep their lines."""

    created: int
    updated: int
    unchanged: int
    rejected: tuple[RowError, ...]
    dry_run: bool = False

    def summary(self) -> str:
        text = (
            f"{self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {len(self.rejected)} rejected"
        )
        return text + (" (dry run: nothing written)" if self.dry_run else "")


@dataclass(frozen=True)
class Checkpoint:
    """An import after one of its batches: the batch's last line, and the counts so far.

    An import interrupted after committing a checkpoint resumes from it: the
    lines up to `line` are read again (so that later repeats and
    contradictions are recognised, and their rejections listed) but not
    written, and counting goes on from these counts.  A subscriber whose
    timezone the interrupted run changed counts as unchanged in later lines.
    """

    line: int
    created: int
    updated: int
    unchanged: int


def subscription_identity(row: SubscriptionRow) -> str:
    """The stored form of `row.identity()`: the same text for the same subscription, every run."""
    return orjson.dumps(row.identity()).decode()


def import_subscriptions(
    session: Session,
    items: Iterable[tuple[int, SubscriptionRow | RowError]],
    now: datetime,
    dry_run: bool = False,
    batch_size: int = 1000,
    send_hour: int = DEFAULT_SEND_HOUR,
    checkpoint: Callable[[Checkpoint], None] | None = None,
    resume_from: Checkpoint | None = None,
) -> ImportReport:
    """Apply (line, row or error) items, as `read_subscription_file` yields them.

    A repeat of an earlier row counts as unchanged (it is applied once); a
    repeat with another frequency, or another timezone for the same address,
    is rejected naming the earlier line. A condition made only of stop words
    is rejected. `updated` counts existing subscriptions whose frequency or
    subscriber's timezone this import changed. A dry run does all the same
    work inside a savepoint and rolls it back, so its counts are exact.
    `send_hour` is given to new subscribers only. `checkpoint` is called after
    each batch; `resume_from` skips what an interrupted import applied.
    """
    run = _Import(session, now, send_hour)
    savepoint = session.begin_nested() if dry_run else None
    try:
        iterator = iter(items)
        skip = resume_from.line if resume_from is not None else 0
        while batch := list(islice(iterator, batch_size)):
            applied = sum(1 for line, _ in batch if line <= skip)  # lines come in order
            if applied and resume_from is not None:
                run.recall(batch[:applied], resume_from)
            if applied < len(batch):
                run.apply(batch[applied:])
                if checkpoint is not None:
                    checkpoint(run.checkpoint(batch[-1][0]))
    finally:
        if savepoint is not None:
            savepoint.rollback()
    return ImportReport(
        created=run.created,
        updated=run.updated,
        unchanged=run.unchanged,
        rejected=tuple(run.rejected),
        dry_run=dry_run,
    )


@dataclass(frozen=True)
class _Planned:
    line: int
    row: SubscriptionRow
    identity: str
    criteria: CriteriaSpec | None


class _Import:
    """One import's counts and memory across batches (all rows seen, criteria ids)."""

    def __init__(self, session: Session, now: datetime, send_hour: int) -> None:
        self.session = session
        self.postgres = is_postgresql(session)
        self.now = now
        self.send_hour = send_hour
        self.created = self.updated = self.unchanged = 0
        self.rejected: list[RowError] = []
        self.seen: dict[bytes, tuple[int, str]] = {}  # identity digest -> (line, frequency)
        self.zones: dict[str, tuple[int, str]] = {}  # email -> (line, timezone)
        self.moved: set[str] = set()  # emails whose timezone this import changed
        self.criteria_ids: dict[str, int] = {}

    def apply(self, batch: list[tuple[int, SubscriptionRow | RowError]]) -> None:
        planned = self._plan(batch)
        if not planned:
            return
        subscriber_ids = self._ensure_subscribers(planned)
        self._ensure_criteria(planned)
        keys = [(subscriber_ids[item.row.email], item.identity) for item in planned]
        existing = self._existing(keys)
        new: list[dict[str, Any]] = []
        changed: list[FrequencyChange] = []
        for item, key in zip(planned, keys, strict=True):
            found = existing.get(key)
            if found is None:
                new.append(self._subscription_values(item, key[0]))
            elif found[1] != item.row.frequency:
                changed.append(FrequencyChange(found[0], key[0], item.row.frequency))
            elif item.row.email in self.moved:
                self.updated += 1
            else:
                self.unchanged += 1
        self._insert(new)
        self._update_frequencies(changed)

    def recall(
        self, batch: list[tuple[int, SubscriptionRow | RowError]], resumed: Checkpoint
    ) -> None:
        """Lines an interrupted run of this import applied: remembered, not written again."""
        self._plan(batch)
        self.created, self.updated, self.unchanged = (
            resumed.created,
            resumed.updated,
            resumed.unchanged,
        )

    def checkpoint(self, line: int) -> Checkpoint:
        return Checkpoint(line, self.created, self.updated, self.unchanged)

    def _plan(self, batch: list[tuple[int, SubscriptionRow | RowError]]) -> list[_Planned]:
        """Rows to write; errors, contradictions and repeats are settled here."""
        planned: list[_Planned] = []
        for line, row in batch:
            if isinstance(row, RowError):
                self.rejected.append(row)
                continue
            criteria = None
            if row.kind == "condition":
                try:
                    criteria = criteria_for(row)
                except ValueError as exc:
                    self.rejected.append(RowError(line, str(exc)))
                    continue
            identity = subscription_identity(row)
            digest = hashlib.blake2b(identity.encode(), digest_size=16).digest()
            zone_line, zone = self.zones.get(row.email, (line, row.timezone))
            seen = self.seen.get(digest)
            if zone != row.timezone:
                reason = (
                    f"timezone {row.timezone!r} differs from {zone!r} on line {zone_line} "
                    f"for {row.email}: a subscriber has one timezone"
                )
                self.rejected.append(RowError(line, reason))
            elif seen is not None and seen[1] != row.frequency:
                reason = (
                    f"same subscription as line {seen[0]} but frequency {row.frequency!r} "
                    f"instead of {seen[1]!r}; keep one of the two lines"
                )
                self.rejected.append(RowError(line, reason))
            elif seen is not None:
                self.unchanged += 1
            else:
                self.zones.setdefault(row.email, (line, row.timezone))
                self.seen[digest] = (line, row.frequency)
                planned.append(_Planned(line, row, identity, criteria))
        return planned

    def _ensure_subscribers(self, planned: list[_Planned]) -> dict[str, int]:
        """Subscriber id by email: missing ones inserted, changed timezones updated."""
        zones = {item.row.email: item.row.timezone for item in planned}
        found = self._subscribers(zones)
        moved = [(email, pk) for email, (pk, zone) in found.items() if zone != zones[email]]
        if moved:
            self.session.execute(
                update(SUBSCRIBERS)
                .where(SUBSCRIBERS.c.id == bindparam("b_id"))
                .values(timezone=bindparam("b_timezone")),
                [{"b_id": pk, "b_timezone": zones[email]} for email, pk in moved],
            )
            self.moved.update(email for email, _ in moved)
        missing = [email for email in zones if email not in found]
        if missing:
            insert_ignoring_conflicts(
                self.session,
                SUBSCRIBERS,
                [
                    {
                        "email": email,
                        "timezone": zones[email],
                        "send_hour": self.send_hour,
                        "created_at": self.now,
                    }
                    for email in missing
                ],
            )
            found.update(self._subscribers(missing))
        return {email: pk for email, (pk, _) in found.items()}

    def _subscribers(self, emails: Iterable[str]) -> dict[str, tuple[int, str]]:
        rows = self.session.execute(
            select(SUBSCRIBERS.c.email, SUBSCRIBERS.c.id, SUBSCRIBERS.c.timezone).where(
                self._among(SUBSCRIBERS.c.email, list(emails), Text)
            )
        )
        return {email: (pk, zone) for email, pk, zone in rows}

    def _among(
        self, column: ColumnElement[Any], values: list[Any], item_type: Any
    ) -> ColumnElement[bool]:
        """`column IN values`; on PostgreSQL `= ANY(array)`: one parameter, one plan for all."""
        if self.postgres:
            return column == any_(bindparam(None, values, ARRAY(item_type)))
        return column.in_(values)

    def _ensure_criteria(self, planned: list[_Planned]) -> None:
        specs = [
            item.criteria
            for item in planned
            if item.criteria is not None and item.criteria.signature not in self.criteria_ids
        ]
        self.criteria_ids.update(ensure_criteria(self.session, specs, self.now))

    def _existing(self, keys: list[tuple[int, str]]) -> dict[tuple[int, str], tuple[int, str]]:
        """(subscriber id, identity) -> (subscription id, frequency) of those already stored.

        Probes the unique (subscriber_id, identity) index once per key. PostgreSQL
        would scan a row-value IN list; joined to unnest() of two arrays it probes.
        """
        table = SUBSCRIPTIONS
        pair = tuple_(table.c.subscriber_id, table.c.identity)
        if self.postgres:
            wanted = (
                func.unnest(
                    bindparam(None, [subscriber for subscriber, _ in keys], ARRAY(BigInteger)),
                    bindparam(None, [identity for _, identity in keys], ARRAY(Text)),
                )
                .table_valued("subscriber_id", "identity")
                .render_derived()
            )
            condition = pair.in_(select(wanted.c.subscriber_id, wanted.c.identity))
        else:
            condition = pair.in_(keys)
        rows = self.session.execute(
            select(table.c.subscriber_id, table.c.identity, table.c.id, table.c.frequency).where(
                condition
            )
        )
        return {
            (subscriber, identity): (pk, frequency) for subscriber, identity, pk, frequency in rows
        }

    def _subscription_values(self, item: _Planned, subscriber_id: int) -> dict[str, Any]:
        row = item.row
        criteria = item.criteria
        return {
            "subscriber_id": subscriber_id,
            "identity": item.identity,
            "kind": row.kind,
            "condition": row.condition,
            "nct_id": row.nct_id,
            "criteria_id": self.criteria_ids[criteria.signature] if criteria else None,
            "frequency": row.frequency,
            **row.filter_columns(),
            "active": True,
            "confirmed": True,
            "created_at": self.now,
            "updated_at": self.now,
        }

    def _insert(self, values: list[dict[str, Any]]) -> None:
        # No RETURNING: on PostgreSQL it triples the cost of the insert. Rows were
        # checked absent just before; only a concurrent writer could make one exist.
        insert_ignoring_conflicts(self.session, SUBSCRIPTIONS, values)
        self.created += len(values)

    def _update_frequencies(self, changed: list[FrequencyChange]) -> None:
        change_frequencies(self.session, changed, self.now)
        self.updated += len(changed)
