"""Criteria: the normalized matching form of condition subscriptions, shared and insert-only.

Every subscription that asks the same thing ("Lung cancers" in Italy and
"lung cancer" in italy) points at one criteria row, so matching works once per
distinct question rather than once per subscriber. A row is identified by its
`signature` and never changes once written: workers may cache rows by id.
The question includes every filter: statuses, countries, near, and the
eligibility and design filters (age, sex, healthy volunteers, phases, study
types), which the signature names only when one is asked, so the rows made
before they existed keep their signatures.

Caching by id needs one more fact: PostgreSQL hands out ids when a row is
inserted, not when it commits, so a cache that has seen id 501 may still be
missing 500 (an import holding it in an open transaction).  Every writer
therefore holds a shared advisory lock from before it draws an id until its
transaction ends (`ensure_criteria`), and `settled_up_to` asks, without
waiting, whether any writer is still in flight.  The cache's protocol is in
worker/matching/criteria_index.py.

A row's words were made by the normalization rules of its day.  When the rules
change, `recompute_criteria` (run by `trialalerts db upgrade`) points every
condition subscription at the criteria today's rules make of it, inserting
rows as needed; the old rows stay, as rows never change.  Matching needs no
other repair: "newly matches" is judged from study snapshots, not remembered
per criteria.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol, cast

import orjson
from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from worker.core.models import Criteria, Subscription
from worker.core.quoting import show_value
from worker.core.sql import insert_ignoring_conflicts, is_postgresql
from worker.matching.concepts import normalize_term
from worker.matching.conditions import Filters, index_key
from worker.matching.eligibility import EligibilityAsk

# The eligibility and design filters, (age, sex, healthy_volunteers, phases,
# study_types), folded as `Filters` folds them (`eligibility_of`).
Eligibility = tuple[int | None, str | None, bool | None, tuple[str, ...], tuple[str, ...]]
NO_ELIGIBILITY: Eligibility = (None, None, None, (), ())
ELIGIBILITY_NAMES = ("age", "sex", "healthy_volunteers", "phases", "study_types")


NO_MEANINGFUL_WORDS = "no meaningful words (only stop words such as 'the', 'and', 'of')"


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
    eligibility: Eligibility = NO_ELIGIBILITY


def eligibility_of(
    age: int | None,
    sex: str | None,
    healthy_volunteers: bool | None,
    phases: Iterable[str] | None,
    study_types: Iterable[str] | None,
) -> Eligibility:
    """The eligibility filters in their one folded, sorted form (None/empty: not asked)."""
    folded = Filters(
        age=age,
        sex=sex,
        healthy_volunteers=healthy_volunteers,
        phases=frozenset(phases or ()),
        study_types=frozenset(study_types or ()),
    )
    return (
        folded.age,
        folded.sex,
        folded.healthy_volunteers,
        tuple(sorted(folded.phases)),
        tuple(sorted(folded.study_types)),
    )


class ConditionAsk(EligibilityAsk, Protocol):
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
    eligibility = eligibility_of(
        row.age, row.sex, row.healthy_volunteers, row.phases, row.study_types
    )
    return _criteria(row.condition, row.statuses, row.countries, row.near, eligibility)


@lru_cache(maxsize=65_536)
def _criteria(
    condition: str,
    statuses: tuple[str, ...],
    countries: tuple[str, ...],
    near: tuple[float, float, float] | None,
    eligibility: Eligibility = NO_ELIGIBILITY,
) -> CriteriaSpec:
    """Cached: many subscribers ask the same thing, and a big import repeats it."""
    words = normalize_term(condition)
    if not words:
        raise ValueError(f"condition {show_value(condition)}: {NO_MEANINGFUL_WORDS}")
    filters = Filters(statuses=frozenset(statuses), countries=frozenset(countries))
    spec = CriteriaSpec(
        signature="",
        words=" ".join(sorted(words)),
        match_key=index_key(words),
        statuses=tuple(sorted(filters.statuses)),
        countries=tuple(sorted(filters.countries)),
        near=near,
        eligibility=eligibility,
    )
    signed: list[Any] = [spec.words, spec.statuses, spec.countries, spec.near]
    if eligibility != NO_ELIGIBILITY:
        signed.append(dict(zip(ELIGIBILITY_NAMES, eligibility, strict=True)))
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
    age, sex, healthy, phases, study_types = spec.eligibility
    return {
        "signature": signature,
        "words": spec.words,
        "match_key": spec.match_key,
        "statuses": list(spec.statuses),
        "countries": list(spec.countries),
        "near_lat": lat,
        "near_lon": lon,
        "near_km": km,
        "age": age,
        "sex": sex,
        "healthy_volunteers": healthy,
        "phases": list(phases) or None,
        "study_types": list(study_types) or None,
        "created_at": now,
    }


@dataclass
class Recomputed:
    """What `recompute_criteria` did: subscriptions checked and moved, and those it could not."""

    checked: int = 0
    moved: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)  # (subscription id, why)


RECOMPUTE_PAGE = 10_000  # condition subscriptions read at a time
ELIGIBILITY_COLUMNS = (
    Subscription.age,
    Subscription.sex,
    Subscription.healthy_volunteers,
    Subscription.phases,
    Subscription.study_types,
)


def recompute_criteria(session: Session, now: datetime) -> Recomputed:
    """Point each condition subscription at the criteria the current rules make of it.

    Every subscription is checked (its condition and filters are kept as the
    subscriber wrote them), so no rule change can be missed; the criteria are
    cached per distinct question, so this costs a read of the subscriptions.
    A condition the current rules find empty keeps its old criteria and is
    reported.  The caller commits.
    """
    done = Recomputed()
    after = 0
    while True:
        rows = session.execute(
            select(
                Subscription.id,
                Subscription.condition,
                Subscription.statuses,
                Subscription.countries,
                Subscription.near_lat,
                Subscription.near_lon,
                Subscription.near_km,
                *ELIGIBILITY_COLUMNS,
                Criteria.signature,
            )
            .outerjoin(Criteria, Criteria.id == Subscription.criteria_id)
            .where(Subscription.kind == "condition", Subscription.id > after)
            .order_by(Subscription.id)
            .limit(RECOMPUTE_PAGE)
        ).all()
        if not rows:
            return done
        after = rows[-1].id
        moves: dict[int, CriteriaSpec] = {}
        for row in rows:
            done.checked += 1
            near = None if row.near_lat is None else (row.near_lat, row.near_lon, row.near_km)
            try:
                eligibility = eligibility_of(
                    row.age, row.sex, row.healthy_volunteers, row.phases, row.study_types
                )
                spec = _criteria(
                    row.condition or "",
                    tuple(row.statuses or ()),
                    tuple(row.countries or ()),
                    near,
                    eligibility,
                )
            except ValueError as error:
                done.failed.append((row.id, str(error)))
                continue
            if spec.signature != row.signature:
                moves[row.id] = spec
        if moves:
            ids = ensure_criteria(session, moves.values(), now)
            table = cast(Table, Subscription.__table__)
            session.execute(
                update(table)
                .where(table.c.id == bindparam("p_id"))
                .values(criteria_id=bindparam("p_criteria")),
                [{"p_id": pk, "p_criteria": ids[spec.signature]} for pk, spec in moves.items()],
            )
            done.moved += len(moves)
