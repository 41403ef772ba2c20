"""The console's subscriber search on real databases: prefixes, any case, keyset pages, plans."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter

import pytest
from sqlalchemy.orm import Session

from tests.conftest import _truncate, make_runtime
from worker.bench.search_data import load_subscriptions, plan_of, recorded_statements
from worker.core.runtime import Runtime
from worker.subscriptions.lists import import_subscriptions
from worker.subscriptions.rows import parse_row
from worker.subscriptions.search import search_addresses, search_conditions
from worker.subscriptions.suppressions import add_suppression

NOW = datetime(2026, 6, 27, 9, 0, tzinfo=UTC)


def subscribe(runtime: Runtime, *rows: dict[str, str]) -> None:
    items = [(line, parse_row(fields)) for line, fields in enumerate(rows, start=2)]
    with runtime.sessions() as session, session.begin():
        report = import_subscriptions(session, items, NOW)
    assert not report.rejected, report.rejected


def condition(email: str, text: str) -> dict[str, str]:
    return {"email": email, "kind": "condition", "condition": text}


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    with runtime.sessions() as opened:
        yield opened


def test_addresses_match_by_prefix_in_any_case_with_counts_and_suppression(
    runtime: Runtime, session: Session
) -> None:
    subscribe(
        runtime,
        condition("ada@example.com", "Asthma"),
        condition("ada@example.com", "Lung cancer"),
        condition("adam@example.org", "Asthma"),
        condition("bob@example.com", "Asthma"),
    )
    with runtime.sessions() as writer, writer.begin():
        add_suppression(writer, "adam@example.org", None, NOW)

    page = search_addresses(session, "  ADA ")

    assert [(hit.email, hit.subscriptions, hit.suppressed) for hit in page.hits] == [
        ("ada@example.com", 2, False),
        ("adam@example.org", 1, True),
    ]
    assert page.after is None
    assert [hit.email for hit in search_addresses(session, "").hits] == [
        "ada@example.com",
        "adam@example.org",
        "bob@example.com",
    ]


def test_like_wildcards_and_nul_in_the_query_are_plain_characters(
    runtime: Runtime, session: Session
) -> None:
    subscribe(
        runtime,
        condition("ad_min@example.com", "Asthma"),
        condition("adxmin@example.com", "Asthma"),
        condition("a%b@example.com", "Asthma"),
        condition("azb@example.com", "Asthma"),
    )

    assert [hit.email for hit in search_addresses(session, "ad_").hits] == ["ad_min@example.com"]
    assert [hit.email for hit in search_addresses(session, "a%").hits] == ["a%b@example.com"]
    assert [hit.email for hit in search_addresses(session, "az\x00b").hits] == ["azb@example.com"]
    assert search_addresses(session, "\\").hits == []
    assert search_conditions(session, "%").hits == []


def test_conditions_starting_with_a_capital_outside_ascii_are_found(
    runtime: Runtime, session: Session
) -> None:
    """SQLite's own lower() folds ASCII only, and Python folds İ unlike PostgreSQL."""
    subscribe(
        runtime,
        condition("ada@example.com", "Épilepsie du lobe temporal"),
        condition("bob@example.com", "İstanbul fever"),
        condition("cid@example.com", "Ödem"),
    )

    def found(text: str) -> list[str]:
        return [hit.email for hit in search_conditions(session, text).hits]

    assert found("Épilepsie") == found("épi") == found("ÉPI") == ["ada@example.com"]
    assert found("İstanbul") == ["bob@example.com"]
    assert found("ödem") == found("ÖDEM") == ["cid@example.com"]


def test_address_pages_follow_each_other_without_gaps_or_repeats(
    runtime: Runtime, session: Session
) -> None:
    emails = [f"p{n}@example.com" for n in range(7)]
    subscribe(runtime, *(condition(email, "Asthma") for email in reversed(emails)))

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = search_addresses(session, "p", after, size=3)
        seen += [hit.email for hit in page.hits]
        pages += 1
        if page.after is None:
            break
        after = page.after

    assert seen == sorted(emails)
    assert pages == 3


def test_conditions_match_by_prefix_in_any_case_oldest_first_a_page_at_a_time(
    runtime: Runtime, session: Session
) -> None:
    subscribe(
        runtime,
        condition("ada@example.com", "Lung cancer"),
        condition("bob@example.com", "lung cancer in never smokers"),
        condition("cid@example.com", "Asthma"),
        {"email": "dan@example.com", "kind": "study", "nct_id": "NCT07635641"},
        condition("eve@example.com", "LUNG disease"),
    )

    first = search_conditions(session, "LUNG ", size=2)
    second = search_conditions(session, "lung ", first.after, size=2)

    assert [(hit.email, hit.condition) for hit in first.hits] == [
        ("ada@example.com", "Lung cancer"),
        ("bob@example.com", "lung cancer in never smokers"),
    ]
    assert [(hit.email, hit.condition) for hit in second.hits] == [
        ("eve@example.com", "LUNG disease")
    ]
    assert second.after is None
    assert all(hit.active and hit.confirmed for hit in first.hits + second.hits)
    assert search_conditions(session, "lung", after="not-a-cursor", size=5).hits == first.hits + [
        second.hits[0]
    ]


SEARCHES = {
    "address": (lambda s: search_addresses(s, "person1"), "ix_subscribers_email_prefix"),
    "address, next page": (
        lambda s: search_addresses(s, "person1", "person1500"),
        "ix_subscribers_email_prefix",
    ),
    "one address": (lambda s: search_addresses(s, "person1234."), "ix_subscribers_email_prefix"),
    "condition": (lambda s: search_conditions(s, "asthma 12"), "ix_subscriptions_condition_prefix"),
    "condition, next page": (
        lambda s: search_conditions(s, "Asthma 12", "9000"),
        "ix_subscriptions_condition_prefix",
    ),
}


def test_searches_on_postgresql_read_the_prefix_indexes_not_the_table(
    pg_url: str, tmp_path: Path
) -> None:
    """20,000 subscriptions of 10,000 subscribers, statistics taken: each search's plan.

    The million-row figures are `trialalerts bench --only admin-search`.
    """
    _truncate(pg_url)
    runtime = make_runtime(pg_url, tmp_path)
    load_subscriptions(runtime.engine, 20_000)
    for name, (search, index) in SEARCHES.items():
        with runtime.sessions() as session:
            start = perf_counter()
            with recorded_statements(runtime.engine) as statements:
                page = search(session)
            seconds = perf_counter() - start
            plan = plan_of(session.connection(), *statements[0])

        assert page.hits, name
        assert index in plan, (name, plan)
        assert "Seq Scan" not in plan, (name, plan)
        assert seconds < 0.5, name
    runtime.close()


def test_postgresql_pages_are_in_the_same_byte_order_as_sqlite(tmp_path: Path, pg_url: str) -> None:
    emails = ["a.b@example.com", "a_b@example.com", "a-b@example.com", "ab@example.com"]
    orders = []
    for url in (f"sqlite:///{tmp_path / 'order.db'}", pg_url):
        _truncate(pg_url)
        runtime = make_runtime(url, tmp_path)
        subscribe(runtime, *(condition(email, "Asthma") for email in emails))
        with runtime.sessions() as session:
            first = search_addresses(session, "a", size=2)
            rest = search_addresses(session, "a", first.after, size=2)
        orders.append([hit.email for hit in first.hits + rest.hits])
        runtime.close()

    assert orders[0] == orders[1] == sorted(emails)
