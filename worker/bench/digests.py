"""Digest throughput: send-ready digests (grouped, rendered, MIME bytes) per second on one core.

Each sample digest holds 5-25 real studies (titles and statuses of the real
records), some new and some with the changes `diff` finds between a record's
summary and an edited copy (status, sites, enrollment, dates, eligibility),
found by one to three condition alerts and sometimes a follow.  Each carries
its study's facts as the sender reads them (phases, study type, eligibility,
status verified), and a third of the subscribers have a `near` alert, whose
notes name a new study's nearest site or a site added near them.  Timed: what
the sender does per delivery, `build_digest` then `digest_message`.  Anchor:
bare `render_email` of the same digests' contexts (the three Jinja2 templates
and nothing else), in the same process.  The two are run in turns, and the
row is the turn whose ratio is the median (worker/bench/turns.py).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import Any

from worker.bench.corpus import NEXT_STATUS, nct_id, record, record_names, vocabulary
from worker.bench.rows import BenchRow, at_least, ratio_at_least
from worker.bench.scale import Scale, by_scale
from worker.bench.turns import in_the_median_turn, median_turn, spread, turns
from worker.core.config import Settings
from worker.digests.digest import PendingNotification, SubscriptionRef, build_digest
from worker.digests.jobs import FACT_KEYS
from worker.digests.mime import digest_message
from worker.digests.render import digest_context, render_email
from worker.ingest.studies import Change, diff, summarize
from worker.matching.nearby import NEAREST, OPENED, SiteNote, site_note

SETTINGS = Settings(
    secret_keys=("bench-secret-key-0123456789abcdef",),
    base_url="https://alerts.example.org",
    mail_from="Trialalerts <alerts@mail.example.org>",
)
NOW = datetime(2026, 6, 27, 8, tzinfo=UTC)
TARGET = at_least(3000, "digests/s/core") & ratio_at_least(0.40)
NEW_SHARE = 0.5  # of a digest's studies: new ones; the others changed
FOLLOW_SHARE = 0.3  # of the changed studies: followed rather than found by an alert
NEAR_SHARE = 0.3  # of the subscribers: a near alert, whose digests name sites near them


@dataclass(frozen=True)
class SampleDigest:
    subscriber: dict[str, Any]
    frequency: str
    notifications: tuple[PendingNotification, ...]


def _edited(summary: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A later version of the summary with one to three realistic edits."""
    later = copy.deepcopy(summary)
    edits = rng.sample(
        ("status", "site", "site_status", "enrollment", "dates", "age"), k=rng.randint(1, 3)
    )
    if "status" in edits:
        later["status"] = NEXT_STATUS.get(later["status"], "RECRUITING")
    if "site" in edits:
        later["sites"].append(
            {"facility": "Ospedale San Raffaele", "city": "Milan", "state": "",
             "country": "Italy", "status": "RECRUITING", "lat": 45.51, "lon": 9.26}
        )  # fmt: skip
    if "site_status" in edits and later["sites"]:
        site = later["sites"][0]
        site["status"] = "ACTIVE_NOT_RECRUITING" if site["status"] == "RECRUITING" else "RECRUITING"
    if "enrollment" in edits:
        later["enrollment"] = {
            "count": (later["enrollment"].get("count") or 40) + 60,
            "type": "ESTIMATED",
        }
    if "dates" in edits:
        later["dates"]["primary_completion"] = {"date": "2027-12-31", "type": "ESTIMATED"}
    if "age" in edits:
        later["eligibility"]["minimumAge"] = "12 Years"
    return later


def _site_note(summary: dict[str, Any], change: Change, near: random.Random) -> SiteNote | None:
    """What matching notes for a near alert: a new study's nearest site, a site added near."""
    why = {"new_study": NEAREST, "site_added": OPENED}.get(change.kind)
    if why is None or not summary["sites"]:
        return None
    return site_note(why, near.choice(summary["sites"]), near.uniform(1, 80))


def _pending(
    study: str,
    summary: dict[str, Any],
    changes: list[Change],
    refs: tuple[SubscriptionRef, ...],
    near: random.Random | None,
) -> list[PendingNotification]:
    facts = {key: summary[key] for key in FACT_KEYS if summary.get(key) is not None}
    return [
        PendingNotification(
            id=0, nct_id=study, title=summary["title"], status=summary["status"],
            kind=change.kind, field=change.field, before=change.before, after=change.after,
            subscriptions=refs, created_at=NOW - timedelta(hours=2), facts=facts,
            near_site=_site_note(summary, change, near) if near else None,
        )
        for change in changes
    ]  # fmt: skip


def sample_digests(count: int, seed: int = 3) -> list[SampleDigest]:
    """`count` subscribers' pending notifications: 5-25 studies each, new or changed."""
    rng = random.Random(seed)
    nearby = random.Random(seed + 1)  # its own draws: the studies and changes stay as they were
    summaries = [summarize(record(name)) for name in record_names()]
    terms = vocabulary()[:100]
    samples = []
    for number in range(count):
        alerts = [
            SubscriptionRef(number * 10 + i, "condition", rng.choice(terms))
            for i in range(rng.randint(1, 3))
        ]
        follow_id = number * 10 + 9
        near = nearby if nearby.random() < NEAR_SHARE else None
        pending: list[PendingNotification] = []
        for position in range(rng.randint(5, 25)):
            summary = rng.choice(summaries)
            study = nct_id(number * 100 + position)
            if rng.random() < NEW_SHARE:
                new = diff(None, summary)
                pending += _pending(study, summary, new, (rng.choice(alerts),), near)
                continue
            follow = rng.random() < FOLLOW_SHARE
            refs = (
                (SubscriptionRef(follow_id, "study", study),) if follow else (rng.choice(alerts),)
            )
            pending += _pending(study, summary, diff(summary, _edited(summary, rng)), refs, near)
        numbered = tuple(replace(note, id=i) for i, note in enumerate(pending, start=1))
        subscriber = {
            "id": number + 1,
            "email": f"reader{number}@bench.example",
            "timezone": "UTC",
            "link_key": f"bench-link-key-{number:07d}",  # 22 characters, as new_link_key()
        }
        samples.append(SampleDigest(subscriber, "daily", numbered))
    return samples


def _send_ready(samples: list[SampleDigest]) -> tuple[float, int]:
    """(seconds, MIME bytes) to turn each sample into a ready message."""
    size = 0
    start = perf_counter()
    for number, sample in enumerate(samples):
        digest = build_digest(sample.frequency, sample.notifications, SETTINGS.digest_item_cap)
        assert digest is not None
        message = digest_message(
            SETTINGS, sample.subscriber, digest, NOW, f"<bench-{number}@mail.example.org>"
        )
        size += len(message)
    return perf_counter() - start, size


def _bare_rendering(samples: list[SampleDigest]) -> float:
    """Seconds to render the samples' contexts, built before the clock starts."""
    contexts = []
    for sample in samples:
        digest = build_digest(sample.frequency, sample.notifications, SETTINGS.digest_item_cap)
        assert digest is not None
        contexts.append(digest_context(SETTINGS, sample.subscriber, digest, NOW))
    start = perf_counter()
    for context in contexts:
        render_email("digest", context)
    return perf_counter() - start


def digest_rows(scale: Scale) -> list[BenchRow]:
    count = by_scale(scale, 20, 2000, 10_000)
    runs = turns(scale)
    samples = sample_digests(min(count, 500))
    samples = [samples[i % len(samples)] for i in range(count)]
    _send_ready(samples[:5])  # load and compile the templates first
    timed = [(*_send_ready(samples), _bare_rendering(samples)) for _ in range(runs)]
    ratios = [bare / seconds for seconds, _, bare in timed]
    seconds, size, bare = timed[median_turn(ratios)]
    items = sum(len({n.nct_id for n in sample.notifications}) for sample in samples) / count
    return [
        BenchRow(
            "digests: send-ready", count / seconds, "digests/s/core", count / bare,
            in_the_median_turn("bare render_email of the same contexts", runs), TARGET,
            f"{count:,} digests of {items:.1f} studies on average, {size / count / 1024:.1f} KB "
            "of MIME each; build_digest + digest_message (context, rendering, MIME); "
            + spread(ratios),
        )
    ]  # fmt: skip
