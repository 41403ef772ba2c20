"""The registry client over real HTTP: pacing, timeouts, permanent errors, the subset only."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date

import httpx
import pytest

from worker.bench.fake_ctgov import FakeCtgov
from worker.core.config import CtgovSettings
from worker.registry.api import updated_since
from worker.registry.client import RegistryClient, RegistryError, RegistryUnavailable

pytestmark = pytest.mark.integration


def _settings(fake: FakeCtgov, **changes: object) -> CtgovSettings:
    fast = {"api_url": fake.url, "max_rps": 1000.0, "backoff_seconds": 0.01, "retries": 1}
    return replace(CtgovSettings(), **(fast | changes))  # type: ignore[arg-type]


@pytest.mark.alone  # arrival times at the fake registry
def test_requests_are_paced_at_max_rps_retries_included(fake: FakeCtgov) -> None:
    with RegistryClient(_settings(fake, max_rps=20.0), "http://localhost") as client:
        start = time.monotonic()
        pages = list(client.pages(updated_since(date(2015, 1, 1), 1)))
    starts = [r.at for r in fake.requests]
    assert len(pages) == len(starts) >= 8
    # Arrival times carry the network's and the scheduler's jitter: one gap may shrink
    # as its neighbour grows, but no two requests arrive together and on average they
    # keep the interval (0.05 s).
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.01, gaps
    assert (starts[-1] - starts[0]) / len(gaps) >= 0.045, gaps
    assert time.monotonic() - start >= 0.045 * len(gaps)


def test_a_registry_too_slow_to_answer_times_out_is_retried_then_given_up(
    fake: FakeCtgov,
) -> None:
    fake.delay = 0.3
    timeout = httpx.Timeout(0.1)
    client = RegistryClient(_settings(fake), "http://localhost", timeout=timeout)
    with client, pytest.raises(RegistryUnavailable, match="gave up after 2 attempts.*timed out"):
        client.version()


def test_a_request_outside_the_subset_is_refused_at_once_not_retried(fake: FakeCtgov) -> None:
    client = RegistryClient(_settings(fake, retries=5), "http://localhost")
    with client, pytest.raises(RegistryError, match="HTTP 400.*countTotal"):
        next(client.pages({"format": "json", "countTotal": "true"}))
    assert len(fake.requests) == 1
