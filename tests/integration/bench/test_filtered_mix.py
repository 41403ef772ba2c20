"""The bench's filtered subscription mix: 30 % of condition alerts with eligibility and a place."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.bench.test_bench import _empty, _stored
from worker.bench.subscribers import FILTERED_SHARE, bulk_load, synthetic_rows
from worker.core.db import make_engine, make_sessionmaker
from worker.subscriptions.lists import import_subscriptions

NOW = datetime(2026, 6, 27, 9, tzinfo=UTC)


def test_the_filtered_mix_is_the_plain_mix_with_filters_on_a_share_of_conditions() -> None:
    plain = list(synthetic_rows(2000, followable=30))
    filtered = list(synthetic_rows(2000, followable=30, filtered_share=FILTERED_SHARE))
    assert [(row.email, row.kind, row.condition, row.nct_id) for row in plain] == [
        (row.email, row.kind, row.condition, row.nct_id) for row in filtered
    ]
    conditions = [row for row in filtered if row.kind == "condition"]
    asked = [row for row in conditions if row.age is not None]
    assert 0.27 < len(asked) / len(conditions) < 0.33
    assert all(row.near is not None for row in asked)
    assert any(row.sex for row in asked) and any(row.phases for row in asked)
    assert all(row.age is None for row in plain)


def test_the_bulk_loader_writes_the_filters_as_the_importer_does(pg_url: str) -> None:
    rows = list(synthetic_rows(300, followable=30, filtered_share=FILTERED_SHARE))
    engine = make_engine(pg_url)
    try:
        _empty(engine)
        with make_sessionmaker(engine)() as session, session.begin():
            report = import_subscriptions(session, list(enumerate(rows, start=2)), NOW)
        assert (report.created, report.rejected) == (300, ())
        imported = _stored(engine)
        assert any(row["age"] is not None for row in imported["criteria"])

        _empty(engine)
        loaded = bulk_load(engine, iter(rows), NOW)
        assert loaded == (len(imported["subscribers"]), len(imported["criteria"]), 300)
        assert _stored(engine) == imported
    finally:
        engine.dispose()
