"""One poll of ClinicalTrials.gov, and the poller process that repeats it.

A poll claims the cursor and asks `/version`.  When the registry's data
changed since the last complete poll, it reads every study updated since the
cursor's day, page by page: each page is published (validation, dedupe, dead
letters, ingest wake-ups: the normal path) and only then is the cursor moved.
When due, it re-fetches the followed studies by id.  Without new data a poll
costs one request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from worker.core.metrics import count, set_gauge
from worker.core.models import Study
from worker.core.runtime import Runtime
from worker.ingest.deadletters import dead_letter, store_dead_letters
from worker.ingest.publish import PublishReport, chunks
from worker.queue.pipeline import publish_raw
from worker.registry.api import BadPage, by_ids, updated_since
from worker.registry.client import RegistryClient
from worker.registry.cursor import Cursor, CursorState, advance
from worker.registry.events import nct_id_or_none, post_day, study_item
from worker.registry.follow import batches, followed_ids, missing, refresh_due

log = logging.getLogger(__name__)
ORIGIN = "ctgov poll"
FIRST_DAY_BACK = timedelta(days=1)  # no cursor yet and no --since: from yesterday on
KEPT_BODY = 1_000_000  # characters of a bad page kept in its dead letter


class Stopped(Exception):
    """The process was asked to stop; the cursor stays where the last stored page left it."""


@dataclass
class PollReport:
    data_timestamp: str = ""
    unchanged: bool = False
    pages: int = 0
    studies: int = 0
    followed: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    bad_pages: int = 0
    missing: list[str] = field(default_factory=list)
    cursor_day: date | None = None
    requests: int = 0

    def add(self, published: PublishReport) -> None:
        self.accepted += published.accepted
        self.duplicates += published.duplicates
        self.rejected += len(published.rejections)

    def summary(self) -> str:
        data = f"data of {self.data_timestamp}" + (" unchanged" if self.unchanged else "")
        return (
            f"{self.studies} studies on {self.pages} pages, {self.followed} followed re-fetched: "
            f"{self.accepted} published, {self.duplicates} duplicate, {self.rejected} rejected, "
            f"{self.bad_pages} bad pages kept, {len(self.missing)} followed missing; "
            f"cursor at {self.cursor_day}; {data}; {self.requests} requests"
        )


def known_studies(runtime: Runtime, nct_ids: list[str | None]) -> set[str]:
    """Those of `nct_ids` with a stored snapshot: their events are `updated`, others `created`."""
    wanted = sorted({nct_id for nct_id in nct_ids if nct_id})
    found: set[str] = set()
    with runtime.sessions() as session:
        for batch in chunks(wanted, 500):
            found.update(session.scalars(select(Study.nct_id).where(Study.nct_id.in_(batch))))
    return found


class Poller:
    """This process's poller: one HTTP client, one cursor, one poll at a time."""

    def __init__(
        self,
        runtime: Runtime,
        progress: Callable[[int], None] = lambda studies: None,
        stop: threading.Event | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = runtime.settings.ctgov
        self.client = RegistryClient(self.settings, runtime.settings.base_url, self._keep)
        self.cursor = Cursor(
            runtime.sessions, self.settings.api_url, self.settings.lease_seconds, runtime.now
        )
        self.stop = stop or threading.Event()
        self._progress = progress
        self._report = PollReport()

    def close(self) -> None:
        self.client.close()

    @property
    def last_report(self) -> PollReport:
        """The report of the poll running or last run (also when it stopped on an error)."""
        return self._report

    def poll(self, since: date | None = None, wait: bool = True) -> PollReport | None:
        """One poll; None when another poller holds the cursor (and `wait` is off) or on stop."""
        state = self._claim(wait)
        if state is None:
            return None
        self._report = report = PollReport()
        requests_before = self.client.requests
        try:
            self._poll(state, since, report)
        finally:
            report.requests = self.client.requests - requests_before
            self.cursor.release()
        return report

    def serve(self, since: date | None = None) -> None:
        """Poll, sleep, repeat until `stop` is set; a failed poll is logged and tried again."""
        log.info("polling %s every %.0f s", self.settings.api_url,
                 self.settings.poll_interval_seconds)  # fmt: skip
        while not self.stop.is_set():
            try:
                report = self.poll(since, wait=False)
                if report is None:
                    log.info("another poller holds the cursor: %s", self.cursor.held_by()[0])
                else:
                    since = None
                    log.info("poll done: %s", report.summary())
            except Stopped:
                break
            except Exception:  # noqa: BLE001 - logged loudly; the next poll starts where this stopped
                log.exception("poll failed; next attempt in %.0f s",
                              self.settings.poll_interval_seconds)  # fmt: skip
            self.stop.wait(self.settings.poll_interval_seconds)

    def _claim(self, wait: bool) -> CursorState | None:
        waited = False
        while not self.stop.is_set():
            state = self.cursor.claim()
            if state is not None or not wait:
                return state
            if not waited:
                holder, until = self.cursor.held_by()
                log.warning("waiting for the cursor, held by %s until %s", holder, until)
                waited = True
            self.stop.wait(min(1.0, self.settings.lease_seconds / 4))
        return None

    def _poll(self, state: CursorState, since: date | None, report: PollReport) -> None:
        started = self.runtime.now()
        if since is not None:
            self.cursor.move(day=since, data_timestamp=None)
            state = CursorState(since, None, state.followed_at)
        version = self.client.version()
        report.data_timestamp = version.data_timestamp
        day = state.day or (started - FIRST_DAY_BACK).date()
        report.cursor_day = day
        if version.data_timestamp == state.data_timestamp:
            report.unchanged = True
        else:
            day = report.cursor_day = self._updates(day, report)
            self.cursor.move(day=day, data_timestamp=version.data_timestamp)
        if refresh_due(state.followed_at, started, self.settings.follow_refresh_hours):
            self._followed(report)
            self.cursor.move(followed_at=started)
        now = self.runtime.now()
        lag = now - datetime.combine(day, time(), UTC)
        set_gauge("trialalerts_ctgov_cursor_lag_seconds", lag.total_seconds())
        set_gauge("trialalerts_ctgov_last_success_timestamp_seconds", now.timestamp())

    def _updates(self, day: date, report: PollReport) -> date:
        """Every study updated since `day`; returns the day the next poll starts from."""
        start, latest, ordered = day, day, True
        for url, page in self.client.pages(updated_since(day, self.settings.page_size)):
            self._publish(url, page.studies, "updated", report)
            days = [found for found in map(post_day, page.studies) if found]
            latest = max([latest, *days])
            # Out of order (the API broke its sort): move no more until the poll is complete.
            ordered = ordered and all(found >= day for found in days)
            if ordered:
                day = advance(day, days, self.runtime.now().date())
            self.cursor.move(day=day)
            self._check_stop()
        return advance(start, [latest], self.runtime.now().date())

    def _followed(self, report: PollReport) -> None:
        with self.runtime.sessions() as session:
            nct_ids = followed_ids(session)
        for batch in batches(nct_ids):
            returned: list[str | None] = []
            for url, page in self.client.pages(by_ids(batch)):
                self._publish(url, page.studies, "followed", report)
                returned += map(nct_id_or_none, page.studies)
                report.followed += len(page.studies)
                self.cursor.move()
            gone = missing(batch, returned)
            if gone:
                log.warning("followed studies the registry did not return: %s", ", ".join(gone))
                count("trialalerts_ctgov_missing_total", len(gone))
                report.missing += gone
            self._check_stop()

    def _publish(self, url: str, studies: list, kind: str, report: PollReport) -> None:
        nct_ids = [nct_id_or_none(study) for study in studies]
        known = known_studies(self.runtime, nct_ids)
        now = self.runtime.now()
        items = (
            study_item(study, self.settings.api_url, nct_id in known, now, f"{url} study {n}")
            for n, (study, nct_id) in enumerate(zip(studies, nct_ids, strict=True), start=1)
        )
        published = publish_raw(items, ORIGIN, self.runtime)
        for rejection in published.rejections:
            log.warning("kept as a dead letter: %s", rejection.describe())
        report.add(published)
        report.pages += kind == "updated"
        report.studies += len(studies) if kind == "updated" else 0
        count("trialalerts_ctgov_studies_total", len(studies), kind=kind)
        for outcome, number in (("accepted", published.accepted),
                                ("duplicate", published.duplicates),
                                ("rejected", len(published.rejections))):  # fmt: skip
            count("trialalerts_ctgov_events_total", number, outcome=outcome)
        self._progress(len(studies))

    def _keep(self, url: str, bad: BadPage) -> None:
        """A page that was not the JSON expected: kept as a dead letter with its URL."""
        self._report.bad_pages += 1
        body = bad.body.decode("utf-8", errors="replace")
        cut = f" (first {KEPT_BODY} of {len(body)} characters)" if len(body) > KEPT_BODY else ""
        row = dead_letter(ORIGIN, None, None, f"{url}: {bad.reason}{cut}", body[:KEPT_BODY],
                          self.runtime.now())  # fmt: skip
        with self.runtime.sessions() as session, session.begin():
            store_dead_letters(session, [row])

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise Stopped()
