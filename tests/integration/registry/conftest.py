"""A fake ClinicalTrials.gov over real HTTP, serving the real records, for every poller test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.registry.support import real_studies
from worker.bench.fake_ctgov import FakeCtgov


@pytest.fixture
def fake() -> Iterator[FakeCtgov]:
    with FakeCtgov() as server:
        server.put(*real_studies())
        yield server
