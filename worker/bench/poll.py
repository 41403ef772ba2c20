"""Polling throughput: studies pulled from a fake ClinicalTrials.gov, then published and ingested.

20,000 studies (the small real records under synthetic ids, updated over
20 days) are served in pages of 1,000 by worker/bench/fake_ctgov.py, on a
thread of this process, and pulled with no rate limit.  The figure is the
poller's own path: its client paging through the query, each page read
strictly and each study made a CloudEvent (canonical JSON, sha256 id).  The
anchor is a plain httpx GET + orjson parse of the same pages, in the same
process and run; each is timed twice, the better run counts.  Then the
whole poll (`Poller.poll`: fetch + publish) into a throw-away PostgreSQL
database, and the ingest of what it published.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from time import perf_counter
from typing import Any

import httpx
import orjson
from sqlalchemy import select

from worker.bench.corpus import SMALL_MIX, mix_names, nct_id, record
from worker.bench.databases import throwaway_postgres
from worker.bench.fake_ctgov import FakeCtgov, variant
from worker.bench.rows import BenchRow, ratio_at_least
from worker.bench.scale import Scale, by_scale
from worker.core.config import Settings
from worker.core.models import ReceivedEvent
from worker.core.runtime import Runtime
from worker.ingest.publish import chunks
from worker.ingest.snapshots import ingest_events
from worker.registry.api import updated_since
from worker.registry.client import RegistryClient
from worker.registry.events import study_item
from worker.registry.poll import Poller

FIRST_DAY = date(2026, 6, 1)
DAYS = 20
NOW = datetime(2026, 6, 28, 9, tzinfo=UTC)
TARGET = ratio_at_least(0.5)


def studies(count: int) -> list[dict[str, Any]]:
    """`count` studies from the small real records, spread evenly over DAYS days."""
    names = mix_names(SMALL_MIX, count)
    records = {name: record(name) for name in set(names)}
    days = [(FIRST_DAY + timedelta(days=n * DAYS // count)).isoformat() for n in range(count)]
    return [variant(records[name], nct_id(n), days[n]) for n, name in enumerate(names)]


def _plain(base_url: str, params: dict[str, str]) -> int:
    """The anchor: GET every page and parse it, nothing else."""
    fetched, token = 0, None
    with httpx.Client(timeout=60) as http:
        while True:
            query = params | ({"pageToken": token} if token else {})
            page = orjson.loads(http.get(base_url + "/studies", params=query).content)
            fetched += len(page["studies"])
            token = page.get("nextPageToken")
            if not token:
                return fetched


def _poller_path(settings: Settings, params: dict[str, str]) -> int:
    """The figure: the poller's client, strict pages, one CloudEvent per study."""
    fetched = 0
    with RegistryClient(settings.ctgov, settings.base_url) as client:
        for url, page in client.pages(params):
            for n, study in enumerate(page.studies):
                study_item(study, client.base_url, False, NOW, f"{url} study {n}")
            fetched += len(page.studies)
    return fetched


def _best_rate(run: Any, expected: int) -> float:
    best = float("inf")
    for _ in range(2):
        start = perf_counter()
        if run() != expected:
            raise RuntimeError("the fake registry did not serve every study")
        best = min(best, perf_counter() - start)
    return expected / best


def _poll_and_ingest(settings: Settings, expected: int) -> tuple[float, float]:
    """Studies/s of a whole poll (fetch + publish) and events/s of their ingest, on PostgreSQL."""
    with throwaway_postgres() as url:
        runtime = Runtime(replace(settings, database_url=url))
        poller = Poller(runtime)
        try:
            start = perf_counter()
            report = poller.poll(FIRST_DAY)
            polled = perf_counter() - start
            if report is None or report.accepted != expected:
                raise RuntimeError(f"the poll published {report and report.accepted} events")
            with runtime.sessions() as session:
                ids = list(session.scalars(select(ReceivedEvent.id).order_by(ReceivedEvent.id)))
            start = perf_counter()
            for batch in chunks(ids, settings.ingest_batch_size):
                with runtime.sessions() as session, session.begin():
                    ingest_events(session, batch, NOW)
            ingested = perf_counter() - start
        finally:
            poller.close()
            runtime.close()
    return expected / polled, expected / ingested


def poll_rows(scale: Scale) -> list[BenchRow]:
    count = by_scale(scale, 200, 2_000, 20_000)
    page_size = by_scale(scale, 100, 500, 1_000)
    with FakeCtgov() as fake:
        fake.put(*studies(count))
        ctgov = replace(Settings().ctgov, api_url=fake.url, max_rps=float("inf"),
                        page_size=page_size)  # fmt: skip
        settings = Settings(ctgov=ctgov)
        params = updated_since(FIRST_DAY, page_size)
        anchor = _best_rate(lambda: _plain(fake.url, params), count)
        figure = _best_rate(lambda: _poller_path(settings, params), count)
        polled, ingested = _poll_and_ingest(settings, count)
    anchor_name = "plain GET + JSON parse of the same pages"
    note = f"{count:,} studies in pages of {page_size:,} from a local fake registry, no rate limit"
    return [
        BenchRow("poll: fetch + events", figure, "studies/s", anchor, anchor_name, TARGET, note),
        BenchRow("poll: fetch + publish (PostgreSQL)", polled, "studies/s", anchor, anchor_name,
                 note=note),
        BenchRow("poll: ingest of the polled events (PostgreSQL)", ingested, "events/s", None, "",
                 note=note),
    ]  # fmt: skip
