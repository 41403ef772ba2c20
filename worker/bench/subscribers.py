"""Synthetic subscription lists, and a bulk loader that writes what an import would.

Terms are Zipf-distributed over the bench vocabulary (real condition and MeSH
terms, most wanted first); filters, frequencies and time zones follow a plausible
mix.  A filtered mix gives a share of the condition subscriptions, on top, the
eligibility filters and a place (issue 13's 30 % variant): the same rows
otherwise, so the two mixes compare like for like.

`bulk_load` writes exactly the rows `import_subscriptions` writes for the same
rows (subscribers, shared criteria, subscriptions), but with PostgreSQL COPY,
so a million subscriptions load in a minute rather than in many.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine, text

from worker.bench.corpus import nct_id, site_places, vocabulary, zipf_weights
from worker.core.cadence import DEFAULT_SEND_HOUR
from worker.core.models import new_link_key
from worker.matching.criteria import ELIGIBILITY_NAMES, CriteriaSpec, criteria_for
from worker.subscriptions.imports import subscription_identity
from worker.subscriptions.rows import SubscriptionRow

TIMEZONES = ("UTC", "Europe/Rome", "America/New_York", "America/Los_Angeles", "Asia/Tokyo")
FREQUENCY_WEIGHTS = {"daily": 70, "weekly": 20, "instant": 10}
SUBSCRIPTIONS_PER_SUBSCRIBER = ((1, 2, 3), (40, 30, 30))  # about 1.9 on average
FOLLOW_SHARE = 0.05  # study follows, of the followed bench studies
RECRUITING_SHARE = 0.30  # statuses=RECRUITING
OPEN_SHARE = 0.10  # statuses=NOT_YET_RECRUITING;RECRUITING
COUNTRY_SHARE = 0.15
NEAR_SHARE = 0.05
NEAR_KM = (25.0, 50.0, 100.0, 250.0)
FILTERED_SHARE = 0.30  # of the condition subscriptions, in the filtered mix
# Within the filtered share: age always, a place always, and these others.
SEX_SHARE = 0.5
PHASES_SHARE = 0.4
PHASE_CHOICES = (("PHASE2", "PHASE3"), ("PHASE3",), ("PHASE1", "PHASE2"), ("PHASE2",))
INTERVENTIONAL_SHARE = 0.3
HEALTHY_SHARE = 0.05


def synthetic_rows(
    count: int, followable: int, seed: int = 11, filtered_share: float = 0.0
) -> Iterator[SubscriptionRow]:
    """`count` subscriptions in normal form (as `parse_row` returns them), the same every run.

    Study follows pick one of the bench studies 0..followable-1 (none when 0).
    `filtered_share` of the condition subscriptions also get the eligibility
    filters and a place (`_with_filters`), drawn apart so the rest is unchanged.
    """
    rng = random.Random(seed)
    filter_rng = random.Random(f"{seed}-filters")
    terms = vocabulary()
    term_weights = zipf_weights(len(terms))
    country_counts, points = site_places()
    countries = [name for name, _ in country_counts]
    country_weights = [weight for _, weight in country_counts]
    made = subscriber = 0
    while made < count:
        email = f"subscriber{subscriber}@bench.example"
        zone = TIMEZONES[subscriber % len(TIMEZONES)]
        wanted = rng.choices(*SUBSCRIPTIONS_PER_SUBSCRIBER)[0]
        identities: set[tuple[object, ...]] = set()
        while len(identities) < min(wanted, count - made):
            frequency = rng.choices(tuple(FREQUENCY_WEIGHTS), tuple(FREQUENCY_WEIGHTS.values()))[0]
            if followable and rng.random() < FOLLOW_SHARE:
                target = nct_id(rng.randrange(followable))
                row = SubscriptionRow(email, "study", None, target, frequency, (), (), None, zone)
            else:
                draw = rng.random()
                statuses: tuple[str, ...] = ()
                if draw < RECRUITING_SHARE:
                    statuses = ("RECRUITING",)
                elif draw < RECRUITING_SHARE + OPEN_SHARE:
                    statuses = ("NOT_YET_RECRUITING", "RECRUITING")
                where: tuple[str, ...] = ()
                if countries and rng.random() < COUNTRY_SHARE:
                    where = (rng.choices(countries, country_weights)[0],)
                near = None
                if points and rng.random() < NEAR_SHARE:
                    lat, lon = rng.choice(points)
                    near = (
                        round(lat + rng.uniform(-0.5, 0.5), 2),
                        round(lon + rng.uniform(-0.5, 0.5), 2),
                        rng.choice(NEAR_KM),
                    )
                term = rng.choices(terms, cum_weights=term_weights)[0]
                row = SubscriptionRow(
                    email, "condition", term, None, frequency, statuses, where, near, zone
                )
            if row.identity() not in identities:  # as in the plain mix, whatever the filters
                identities.add(row.identity())
                made += 1
                if row.kind == "condition" and points and filter_rng.random() < filtered_share:
                    row = _with_filters(row, filter_rng, points)
                yield row
        subscriber += 1


def _with_filters(
    row: SubscriptionRow, rng: random.Random, points: Sequence[tuple[float, float]]
) -> SubscriptionRow:
    """The row with a patient's filters: an age, a place (a site's city) and some others."""
    lat, lon = rng.choice(points)
    return replace(
        row,
        near=(lat, lon, rng.choice(NEAR_KM)),
        age=rng.randint(2, 17) if rng.random() < 0.1 else rng.randint(18, 85),
        sex=rng.choice(("female", "male")) if rng.random() < SEX_SHARE else None,
        healthy_volunteers=True if rng.random() < HEALTHY_SHARE else None,
        phases=rng.choice(PHASE_CHOICES) if rng.random() < PHASES_SHARE else (),
        study_types=("INTERVENTIONAL",) if rng.random() < INTERVENTIONAL_SHARE else (),
    )


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _json_list(values: Sequence[str]) -> str | None:
    """A list column as the importer writes it: JSON, or NULL when empty."""
    return _json(list(values)) if values else None


def _eligibility(row: SubscriptionRow) -> tuple[Any, ...]:
    """The row's eligibility columns, in ELIGIBILITY_NAMES order, as the importer writes them."""
    return (
        row.age,
        row.sex,
        row.healthy_volunteers,
        _json_list(row.phases),
        _json_list(row.study_types),
    )


def _copy(connection: Any, table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    with connection.cursor() as cursor:
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


def bulk_load(
    engine: Engine, rows: Iterator[SubscriptionRow], now: datetime, chunk: int = 50_000
) -> tuple[int, int, int]:
    """COPY the rows into an empty PostgreSQL database; (subscribers, criteria, subscriptions).

    Rows must be valid and free of repeats (as `synthetic_rows` makes them): the
    importer's checks and counts are what this skips, not what it writes.
    """
    subscriber_ids: dict[str, int] = {}
    criteria_ids: dict[str, int] = {}
    specs: dict[tuple[object, ...], CriteriaSpec] = {}
    written = 0
    raw = engine.raw_connection()
    try:
        connection: Any = raw.driver_connection
        batch: list[SubscriptionRow] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= chunk:
                written += _load_batch(connection, batch, now, subscriber_ids, criteria_ids, specs)
                batch = []
        written += _load_batch(connection, batch, now, subscriber_ids, criteria_ids, specs)
        connection.commit()
    finally:
        raw.close()
    with engine.begin() as sql:
        for table, count in (("subscribers", len(subscriber_ids)), ("criteria", len(criteria_ids))):
            sql.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :n)"),
                {"n": max(count, 1)},
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as sql:
        sql.execute(text("ANALYZE subscribers, criteria, subscriptions"))
    return len(subscriber_ids), len(criteria_ids), written


def _load_batch(
    connection: Any,
    batch: list[SubscriptionRow],
    now: datetime,
    subscriber_ids: dict[str, int],
    criteria_ids: dict[str, int],
    specs: dict[tuple[object, ...], CriteriaSpec],
) -> int:
    people: list[tuple] = []
    for row in batch:
        if row.email not in subscriber_ids:
            subscriber_ids[row.email] = len(subscriber_ids) + 1
            person = (subscriber_ids[row.email], row.email, row.timezone, DEFAULT_SEND_HOUR)
            people.append((*person, 0, now, new_link_key(), False))
    _copy(
        connection,
        "subscribers",
        ("id", "email", "timezone", "send_hour", "soft_bounces", "created_at", "link_key",
         "legacy_links"),
        people,
    )  # fmt: skip
    new_criteria: list[tuple] = []
    subscriptions: list[tuple] = []
    for row in batch:
        criteria_id = None
        if row.kind == "condition":
            key = (row.condition, row.statuses, row.countries, row.near, *_eligibility(row))
            spec = specs.get(key)
            if spec is None:
                spec = specs[key] = criteria_for(row)
            signature = spec.signature
            criteria_id = criteria_ids.get(signature)
            if criteria_id is None:
                criteria_id = criteria_ids[signature] = len(criteria_ids) + 1
                lat, lon, km = spec.near if spec.near is not None else (None, None, None)
                age, sex, healthy, phases, study_types = spec.eligibility
                new_criteria.append(
                    (criteria_id, signature, spec.words, spec.match_key,
                     _json(list(spec.statuses)), _json(list(spec.countries)), lat, lon, km, now,
                     age, sex, healthy, _json_list(phases), _json_list(study_types))
                )  # fmt: skip
        lat, lon, km = row.near if row.near is not None else (None, None, None)
        subscriptions.append(
            (subscriber_ids[row.email], subscription_identity(row), row.kind, row.condition,
             row.nct_id, criteria_id, row.frequency, _json(list(row.statuses)),
             _json(list(row.countries)), lat, lon, km, True, True, now, now,
             row.near_place, *_eligibility(row))
        )  # fmt: skip
    _copy(
        connection,
        "criteria",
        ("id", "signature", "words", "match_key", "statuses", "countries")
        + ("near_lat", "near_lon", "near_km", "created_at", *ELIGIBILITY_NAMES),
        new_criteria,
    )
    _copy(
        connection,
        "subscriptions",
        ("subscriber_id", "identity", "kind", "condition", "nct_id", "criteria_id", "frequency")
        + ("statuses", "countries", "near_lat", "near_lon", "near_km", "active", "confirmed")
        + ("created_at", "updated_at", "near_place", *ELIGIBILITY_NAMES),
        subscriptions,
    )
    return len(batch)
