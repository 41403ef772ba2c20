"""Criteria: the normalized matching form of condition subscriptions, shared and insert-only.

Every subscription that asks the same thing ("Lung cancers" in Italy and
"lung cancer" in italy) points at one criteria row, so matching works once per
distinct question rather than once per subscriber. A row is identified by its
`signature` and never changes once written: workers may cache rows by id.

Caching by id needs one more fact: PostgreSQL hands out ids when a row is
inserted, not when it commits, so a cache that has seen id 501 may still be
missing 500 (an import holding it in an open transaction).  Every writer
therefore holds a shared advisory lock from before it draws an id until its
transaction ends (`ensure_criteria`), and `settled_up_to` asks, without
waiting, whether any writer is still in flight.  The cache's protocol is in
worker/matching/criteria_index.py.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol, cast

import orjson
from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

from worker.core.models import Criteria
from worker.core.quoting import show_value
from worker.core.sql import insert_ignoring_conflicts, is_postgresql
from worker.matching.concepts import normalize_term
from worker.matching.conditions import Filters, index_key


@dataclass(frozen=True)
class CriteriaSpec:
    """A criteria row before it has an id: what matching needs, nothing more.

    `signature` is stable text standing for all the other fields (JSON floats
    are repr-exact): the unique key of the row.
    """

    signature: str
    words: str
    match_key: str
    statuses: tuple[str, ...]
    countries: tuple[str, ...]
    near: tuple[float, float, float] | None


class ConditionAsk(Protocol):
    """What a subscription row says about matching (subscriptions.rows.SubscriptionRow)."""

    @property
    def kind(self) -> str: ...
    @property
    def condition(self) -> str | None: ...
    @property
    def statuses(self) -> tuple[str, ...]: ...
    @property
    def countries(self) -> tuple[str, ...]: ...
    @property
    def near(self) -> tuple[float, float, float] | None: ...


def criteria_for(row: ConditionAsk) -> CriteriaSpec:
    """The criteria a condition subscription asks for; ValueError when its term says nothing.

    Statuses and countries are folded exactly as `Filters` folds them, so what
    is stored is what the matcher compares.
    """
    if row.kind != "condition" or row.condition is None:
        raise ValueError(f"a {row.kind} subscription has no criteria")
    return _criteria(row.condition, row.statuses, row.countries, row.near)


@lru_cache(maxsize=65_536)
def _criteria(
    condition: str,
    statuses: tuple[str, ...],
    countries: tuple[str, ...],
    near: tuple[float, float, float] | None,
) -> CriteriaSpec:
    """Cached: many subscribers ask the same thing, and a big import repeats it."""
    words = normalize_term(condition)
    if not words:
        raise ValueError(
            f"condition {show_value(condition)}: no meaningful words "
            "(only stop words such as 'the', 'and', 'of')"
        )
    filters = Filters(statuses=frozenset(statuses), countries=frozenset(countries))
    spec = CriteriaSpec(
        signature="",
        words=" ".join(sorted(words)),
        match_key=index_key(words),
        statuses=tuple(sorted(filters.statuses)),
        countries=tuple(sorted(filters.countries)),
        near=near,
    )
    signed = [spec.words, spec.statuses, spec.countries, spec.near]
    return replace(spec, signature=orjson.dumps(signed).decode())


def ensure_criteria(
    session: Session, specs: Iterable[CriteriaSpec], now: datetime
) -> dict[str, int]:
    """Criteria id by signature for every spec, inserting the missing rows.

    Two statements whatever the number of specs: an insert that ignores rows
    already there (concurrent importers included), then a read-back by signature.
    On PostgreSQL the transaction first joins the writers' shared lock, so the
    caches can tell when the ids it draws are settled (`settled_up_to`).
    """
    unique = {spec.signature: spec for spec in specs}
    if not unique:
        return {}
    if is_postgresql(session):  # held until this transaction ends: see settled_up_to
        session.execute(text(f"SELECT pg_advisory_xact_lock_shared({_WRITERS})"))
    insert_ignoring_conflicts(
        session,
        cast(Table, Criteria.__table__),
        [_criteria_values(signature, spec, now) for signature, spec in unique.items()],
    )
    return criteria_ids(session, unique)


_WRITERS = "hashtext('criteria'), hashtext('insert')"  # the advisory lock every writer shares


def settled_up_to(session: Session) -> int | None:
    """An id at or below which every criteria row that will ever exist has committed.

    None while that cannot be said (PostgreSQL: a writer is in flight).  The
    highest committed id is read first; every lower id was drawn before it
    committed.  Then, if no writer holds the shared lock, each of those ids
    belongs to a transaction that has ended: a statement that starts after
    this call (READ COMMITTED) sees every one of them that exists.  SQLite
    writers are serialized, so what a reader sees never has holes to fill.
    """
    highest = session.scalar(select(func.max(Criteria.id))) or 0
    if not is_postgresql(session):
        return highest
    nobody_writing = session.scalar(
        text(
            f"SELECT CASE WHEN pg_try_advisory_lock({_WRITERS}) "
            f"THEN pg_advisory_unlock({_WRITERS}) ELSE false END"
        )
    )
    return highest if nobody_writing else None


def criteria_ids(session: Session, signatures: Collection[str]) -> dict[str, int]:
    """Existing criteria id by signature (absent signatures are left out)."""
    if not signatures:
        return {}
    rows = session.execute(
        select(Criteria.signature, Criteria.id).where(Criteria.signature.in_(list(signatures)))
    )
    return {signature: pk for signature, pk in rows}


def _criteria_values(signature: str, spec: CriteriaSpec, now: datetime) -> dict[str, Any]:
    lat, lon, km = spec.near if spec.near is not None else (None, None, None)
    return {
        "signature": signature,
        "words": spec.words,
        "match_key": spec.match_key,
        "statuses": list(spec.statuses),
        "countries": list(spec.countries),
        "near_lat": lat,
        "near_lon": lon,
        "near_km": km,
        "created_at": now,
    }
