"""The timed matching run: `match_events` over the waiting batches, in a fresh process.

What a worker does per match message, one transaction per batch, with the
per-process criteria cache warmed first (its cold load is reported apart).
Run with `output=False`, the notification output is stubbed out (`_fan_out`:
its chunks are not sized, no rows per subscriber are made, none written):
what is left is the matching decision, comparable across list sizes, and the
memory matching itself needs.  With the output, its parts are timed apart
(sizing its chunks counts the subscriptions of every criteria fired, so it
grows with the lists, as the rows do), and after the run (and after reading
the peak RSS) the written rows are copied again with COPY.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from time import perf_counter
from typing import Any, TypeVar
from unittest import mock

from worker.bench.matching_setup import EVENTS_AT, no_output
from worker.bench.notification_copy import copy_seconds
from worker.bench.rss import peak_rss_mb
from worker.core.db import make_engine, make_sessionmaker
from worker.matching import fanout
from worker.matching.criteria_index import CriteriaIndex, TermCandidates
from worker.matching.fanout import match_events

T = TypeVar("T")


@dataclass(frozen=True)
class MatchFigures:
    events: int
    changes: int
    notifications: int
    criteria: int  # in the warmed cache
    candidates: int  # criteria looked at, all events together
    index_load: float  # seconds: cold load of the criteria cache
    match: float  # seconds in match_events, commit excluded
    evaluation: float  # of which: concepts of each study, its candidates and their check
    previous: float  # of which: reading and matching the previous snapshots of matched studies
    output: float  # of which: the output (`_fan_out`), each chunk's rows freed included
    sizing: float  # of the output: counting the subscriptions that size its chunks
    fanout: float  # of the output: newly matched criteria -> rows per subscriber
    writes: float  # of the output: write_notifications
    commit: float  # seconds committing
    copy: float  # seconds COPY took for the same rows, same batches
    load_rss_mb: float  # peak RSS right after the cold load of the criteria cache
    peak_rss_mb: float  # peak RSS at the end of the timed run

    @property
    def decision(self) -> float:
        """Seconds of matching proper: everything but the output."""
        return self.match - self.output


class _Stopwatch:
    """Seconds spent in the functions it times, except while `outside` is running."""

    def __init__(self, outside: _Stopwatch | None = None) -> None:
        self.seconds = 0.0
        self.running = 0  # calls of its functions under way
        self.outside = outside

    def timed(self, work: Callable[..., T]) -> Callable[..., T]:
        def run(*args: Any) -> T:
            if self.running or (self.outside is not None and self.outside.running):
                return work(*args)  # counted by the call around it, or by `outside`
            self.running += 1
            start = perf_counter()
            try:
                return work(*args)
            finally:
                self.seconds += perf_counter() - start
                self.running -= 1

        return run


class _CountingIndex(CriteriaIndex):
    """The criteria cache, counting the candidates it hands out and the time it takes."""

    def __init__(self, watch: _Stopwatch) -> None:
        super().__init__()
        self.watch = watch
        self.handed_out = 0

    def candidates(self, words: frozenset[str]) -> list[TermCandidates]:
        start = perf_counter()
        found = super().candidates(words)
        self.watch.seconds += perf_counter() - start
        self.handed_out += len(found)
        return found


class _Instruments:
    """Stopwatches around the parts of match_events, patched into worker.matching.fanout."""

    def __init__(self, output: bool) -> None:
        # Evaluation: each study's concepts, its candidates, and the check of both (terms,
        # then the filters of their criteria); previous snapshots counted apart.
        self.previous = _Stopwatch()
        self.evaluation = _Stopwatch(outside=self.previous)
        self.output = _Stopwatch()  # the whole of it; its parts below
        self.sizing, self.fanout, self.writes = _Stopwatch(), _Stopwatch(), _Stopwatch()
        self.with_output = output
        self.batch_sizes: list[int] = []  # notification rows per write_notifications call

    @contextmanager
    def installed(self) -> Iterator[None]:
        write = fanout.write_notifications

        def counted_write(session: Any, rows: list[dict[str, Any]]) -> None:
            self.batch_sizes.append(len(rows))
            write(session, rows)

        with (
            mock.patch.object(
                fanout, "study_concepts", self.evaluation.timed(fanout.study_concepts)
            ),
            mock.patch.object(fanout, "_matches", self.evaluation.timed(fanout._matches)),
            mock.patch.object(fanout, "matched_before", self.previous.timed(fanout.matched_before)),
            mock.patch.object(
                fanout, "_subscription_counts", self.sizing.timed(fanout._subscription_counts)
            ),
            mock.patch.object(
                fanout, "_subscriber_ranges", self.sizing.timed(fanout._subscriber_ranges)
            ),
            mock.patch.object(
                fanout, "_notification_rows", self.fanout.timed(fanout._notification_rows)
            ),
            mock.patch.object(fanout, "write_notifications", self.writes.timed(counted_write)),
            mock.patch.object(
                fanout,
                "_fan_out",
                self.output.timed(fanout._fan_out if self.with_output else no_output),
            ),
        ):
            yield


def run_matching(url: str, batches: Sequence[list[int]], output: bool = True) -> MatchFigures:
    """Match the waiting batches on the database at `url`, one transaction each."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    instruments = _Instruments(output)
    index = _CountingIndex(instruments.evaluation)
    match = commit = 0.0
    changes = notifications = 0
    try:
        start = perf_counter()
        with sessions() as session:
            index.refresh(session)
        index_load = perf_counter() - start
        load_rss = peak_rss_mb()
        with instruments.installed():
            for pks in batches:
                with sessions() as session:
                    start = perf_counter()
                    session.begin()
                    result = match_events(session, pks, EVENTS_AT, index)
                    matched = perf_counter()
                    session.commit()
                match += matched - start
                commit += perf_counter() - matched
                changes += result.changes
                notifications += result.notifications
                del result  # its rows are the batch's output: let them go before the next
        peak = peak_rss_mb()
        copy = copy_seconds(engine, instruments.batch_sizes) if output else 0.0
    finally:
        engine.dispose()
    return MatchFigures(
        events=sum(len(pks) for pks in batches),
        changes=changes,
        notifications=notifications,
        criteria=len(index),
        candidates=index.handed_out,
        index_load=index_load,
        match=match,
        evaluation=instruments.evaluation.seconds,
        previous=instruments.previous.seconds,
        output=instruments.output.seconds,
        sizing=instruments.sizing.seconds,
        fanout=instruments.fanout.seconds,
        writes=instruments.writes.seconds,
        commit=commit,
        copy=copy,
        load_rss_mb=load_rss,
        peak_rss_mb=peak,
    )
