"""Matching with 30 % of the condition alerts carrying eligibility and place filters (issue 13).

The filtered mix is the plain one with, on top, an age, a place and some of
sex, phases, study types and healthy volunteers on 30 % of the condition
subscriptions (`worker.bench.subscribers`).  Both mixes are built at the same
size and matched with the output stubbed out, each in fresh processes, taking
turns so that both see the same load; each keeps its best run.  The figure is
the filtered mix's events per second, the anchor the plain mix's: the
filters may cost at most 10 % of the throughput.  The note adds the CPU time
match_events took in each, which a loaded machine disturbs less.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any
from unittest import mock

from worker.bench import matching_run
from worker.bench.databases import database_name, throwaway_postgres
from worker.bench.matching_run import MatchFigures, run_matching
from worker.bench.matching_setup import MatchingSetup, build
from worker.bench.rows import BenchRow, error_reason, not_run, ratio_at_least
from worker.bench.rss import in_fresh_process
from worker.bench.scale import Scale
from worker.bench.subscribers import FILTERED_SHARE
from worker.bench.turns import best_of_turns, spread, turns

FILTERS_COST = ratio_at_least(0.9)  # filtered against plain throughput


def _best(runs: list[tuple[MatchFigures, float]]) -> tuple[MatchFigures, float]:
    return min(runs, key=lambda run: run[0].match / run[0].events)


def matched_with_cpu(url: str, batches: list[list[int]]) -> tuple[MatchFigures, float]:
    """`run_matching` without output, and the CPU seconds its match_events calls took."""
    spent = 0.0
    match_events = matching_run.match_events

    def timed(*args: Any) -> Any:
        nonlocal spent
        start = time.process_time()
        try:
            return match_events(*args)
        finally:
            spent += time.process_time() - start

    with mock.patch.object(matching_run, "match_events", timed):
        return run_matching(url, batches, False), spent


def filtered_mix_rows(subscriptions: int, events: int, scale: Scale, label: str) -> list[BenchRow]:
    """One row: the filtered mix's decision throughput against the plain mix's."""
    scenario = (
        f"matching {label} subscriptions, {FILTERED_SHARE:.0%} with eligibility and place "
        "filters: events matched"
    )
    # The filters' cost is near the noise of one run on a shared machine (turn by turn
    # the ratio spreads by a fifth): five turns let the best run of each mix show.
    runs_each = turns(scale)
    try:
        with ExitStack() as stack:
            setups: dict[float, tuple[str, MatchingSetup]] = {}
            for share in (0.0, FILTERED_SHARE):
                url = stack.enter_context(throwaway_postgres())
                setups[share] = url, in_fresh_process(build, url, subscriptions, events, share)[0]
            runs: dict[float, list[tuple[MatchFigures, float]]] = {share: [] for share in setups}
            for _ in range(runs_each):
                for share, (url, setup) in setups.items():
                    with throwaway_postgres(template=database_name(url)) as copy_url:
                        run, _ = in_fresh_process(matched_with_cpu, copy_url, setup.batches)
                    runs[share].append(run)
    except Exception as error:  # noqa: BLE001 - reported as this scenario's row
        return [not_run(scenario, error_reason(error), FILTERS_COST, "events/s")]
    (plain, plain_cpu), (filtered, filtered_cpu) = _best(runs[0.0]), _best(runs[FILTERED_SHARE])
    criteria = {share: setup.criteria for share, (_, setup) in setups.items()}
    turn_ratios = [  # each turn's filtered throughput over the plain one's: the spread of noise
        (plain_turn.match / plain_turn.events) / (filtered_turn.match / filtered_turn.events)
        for (plain_turn, _), (filtered_turn, _) in zip(runs[0.0], runs[FILTERED_SHARE], strict=True)
    ]
    return [
        BenchRow(
            scenario,
            filtered.events / filtered.match,
            "events/s",
            plain.events / plain.match,
            best_of_turns("the plain mix, same size and events", runs_each),
            FILTERS_COST,
            f"output stubbed out; {criteria[FILTERED_SHARE]:,} distinct criteria against "
            f"{criteria[0.0]:,}; CPU in match_events {filtered_cpu / filtered.events * 1e6:,.0f} "
            f"us/event against {plain_cpu / plain.events * 1e6:,.0f} us/event; "
            + spread(turn_ratios),
        )
    ]
