"""The database a matching benchmark runs on: subscriptions, known studies, events to match.

It is built in a process of its own, so the timed process starts clean and its
peak RSS is the matcher's alone.  Known studies were ingested and matched
before, as if long ago, with the notification output left out.  Then the
events to match arrive, as the registry sends them: mostly updates of known studies
(a status change, which can make a study newly match a status filter, or a
title change) and some new studies.  They are published and ingested, so their
changes wait for matching in ingest's batches, as the match messages would
carry them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from typing import Any
from unittest import mock

from sqlalchemy import text

from worker.bench.corpus import (
    CREATED,
    NEXT_STATUS,
    REALISTIC_MIX,
    UPDATED,
    EventTemplate,
    mix_names,
    nct_id,
    vocabulary,
    zipf_weights,
)
from worker.bench.ingest import ingest_batches, publish_lines
from worker.bench.subscribers import bulk_load, synthetic_rows
from worker.core.db import make_engine, make_sessionmaker
from worker.matching import fanout
from worker.matching.criteria_index import CriteriaIndex
from worker.matching.fanout import match_events

KNOWN_AT = datetime(2026, 6, 1, 9, tzinfo=UTC)
EVENTS_AT = datetime(2026, 6, 2, 9, tzinfo=UTC)
NEW_SHARE = 0.10  # of the events to match: new studies; the rest update known ones
STATUS_CHANGE_SHARE = 0.30  # of the updates: a status change; the rest change the title
KNOWN_STATUSES = (("NOT_YET_RECRUITING", "RECRUITING", "ACTIVE_NOT_RECRUITING"), (30, 50, 20))
NEW_STATUSES = ("NOT_YET_RECRUITING", "RECRUITING")
STUDY_ZIPF_EXPONENT = 0.5
# The studies are rendered from a few real records: each record comes in this many
# versions whose sites are all moved by up to SITE_SHIFT degrees, so that a batch holds
# as many different sets of sites as the registry's would, not a handful.
SITE_VERSIONS = 64
SITE_SHIFT = 0.3


@dataclass(frozen=True)
class MatchingSetup:
    subscribers: int
    criteria: int
    subscriptions: int
    batches: list[list[int]]  # event ids with changes, per ingest batch
    seconds: float


@dataclass(frozen=True)
class _Study:
    number: int
    template: EventTemplate
    conditions: tuple[str, ...]
    status: str

    def line(self, kind: str, when: datetime, status: str | None, title: str | None) -> bytes:
        return self.template.render(
            nct=nct_id(self.number),
            id=f"bench-{self.number}-{when:%Y%m%d}",
            type=kind,
            time=when,
            last_update=f"{when:%Y-%m-%d}",
            status=status or self.status,
            title=title,
            conditions=self.conditions,
        )


def _studies(known: int, new: int) -> list[_Study]:
    """Real records with 1-3 conditions drawn from the vocabulary.

    Conditions follow a flatter Zipf law than subscriptions do: the most wanted
    term is in about 2 % of the studies, as breast cancer is in the registry.
    """
    names = mix_names(REALISTIC_MIX, known + new)
    templates: dict[tuple[str, int], EventTemplate] = {}
    terms = vocabulary()
    weights = zipf_weights(len(terms), STUDY_ZIPF_EXPONENT)
    studies = []
    for number, name in enumerate(names):
        rng = random.Random(f"study-{number}")
        drawn = rng.choices(terms, cum_weights=weights, k=rng.choice((1, 1, 2, 2, 3)))
        status = rng.choices(*KNOWN_STATUSES)[0] if number < known else rng.choice(NEW_STATUSES)
        version = (name, number % SITE_VERSIONS)
        if version not in templates:
            moved = random.Random(f"sites-{name}-{version[1]}")
            shift = (moved.uniform(-SITE_SHIFT, SITE_SHIFT), moved.uniform(-SITE_SHIFT, SITE_SHIFT))
            templates[version] = EventTemplate.of(name, conditions=True, shift=shift)
        studies.append(_Study(number, templates[version], tuple(dict.fromkeys(drawn)), status))
    return studies


def _event_lines(studies: list[_Study], known: int) -> list[bytes]:
    rng = random.Random(5)
    lines = []
    for study in studies[:known]:
        if rng.random() < STATUS_CHANGE_SHARE:
            lines.append(study.line(UPDATED, EVENTS_AT, NEXT_STATUS[study.status], None))
        else:
            lines.append(study.line(UPDATED, EVENTS_AT, None, study.template.title + " (amended)"))
    lines += [study.line(CREATED, EVENTS_AT, None, None) for study in studies[known:]]
    rng.shuffle(lines)
    return lines


def no_output(*_args: Any) -> int:
    """Stands in for fanout._fan_out when matching should leave no output (no rows written)."""
    return 0


def build(url: str, subscriptions: int, events: int, filtered_share: float = 0.0) -> MatchingSetup:
    """Fill the empty database at `url`; `events` events then wait for matching.

    `filtered_share`: of the condition subscriptions, those that also carry
    eligibility filters and a place (worker.bench.subscribers.synthetic_rows).
    """
    start = perf_counter()
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        new = max(1, round(events * NEW_SHARE))
        known = events - new
        studies = _studies(known, new)
        people, criteria, written = bulk_load(
            engine,
            synthetic_rows(subscriptions, known + new, filtered_share=filtered_share),
            KNOWN_AT,
        )
        history = [study.line(CREATED, KNOWN_AT, None, None) for study in studies[:known]]
        changed = ingest_batches(sessions, publish_lines(sessions, history, KNOWN_AT), KNOWN_AT)
        index = CriteriaIndex()
        with mock.patch.object(fanout, "_fan_out", no_output):
            for pks in changed:
                with sessions() as session, session.begin():
                    match_events(session, pks, KNOWN_AT, index)
        lines = _event_lines(studies, known)
        batches = ingest_batches(sessions, publish_lines(sessions, lines, EVENTS_AT), EVENTS_AT)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()
    return MatchingSetup(
        people, criteria, written, [pks for pks in batches if pks], perf_counter() - start
    )
