"""'Newly matches' is judged against the study's previous snapshot, on both databases.

Neither the age of a subscription nor how subscriptions share criteria rows
may change what fires: a study that already matched does not fire on a
trivial update because a criteria row is new, and a subscriber who joins an
existing criteria hears of the same studies as one who made a new one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dramatiq.brokers.stub import StubBroker

from tests.integration.matching.test_fanout import condition
from tests.integration.pipeline_helpers import notifications_by_email, publish_at, subscribe
from tests.support import event, record, with_changes
from worker.core.runtime import Runtime

NCT = "NCT03475563"  # coronary artery disease, MeSH ancestor Heart Diseases, status UNKNOWN
T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)
T1 = datetime(2026, 6, 2, 9, tzinfo=UTC)
T2 = datetime(2026, 6, 3, 9, tzinfo=UTC)


def _known() -> dict[str, Any]:
    return record(NCT)


def _dates_only() -> dict[str, Any]:
    """The next version: only the completion dates moved (a change of kind `dates`)."""
    return with_changes(
        _known(),
        lastUpdateSubmitDate="2026-06-02",
        completionDateStruct={"date": "2027-01-31", "type": "ESTIMATED"},
    )


def _recruiting() -> dict[str, Any]:
    return with_changes(
        _dates_only(), lastUpdateSubmitDate="2026-06-03", overallStatus="RECRUITING"
    )


def _late_subscribers(runtime: Runtime) -> None:
    subscribe(
        runtime,
        [
            condition("bob@example.org", "coronary artery disease"),  # joins ada's criteria
            condition("carl@example.org", "Coronary Artery Diseases", statuses="RECRUITING"),
            condition("dora@example.org", "heart disease"),  # a criteria of its own
        ],
    )


def test_new_and_joined_criteria_hear_only_of_what_newly_matches(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(runtime, [condition("ada@example.org", "coronary artery disease")])
    publish_at(runtime, stub_broker, T0, event(_known(), "v1"))
    _late_subscribers(runtime)

    publish_at(runtime, stub_broker, T1, event(_dates_only(), "v2"))
    assert notifications_by_email(runtime) == {"ada@example.org": [(NCT, "new_study")]}

    publish_at(runtime, stub_broker, T2, event(_recruiting(), "v3"))
    assert notifications_by_email(runtime) == {
        "ada@example.org": [(NCT, "new_study")],
        "carl@example.org": [(NCT, "status")],
    }


def test_updates_in_one_batch_are_judged_each_against_the_one_before(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    publish_at(runtime, stub_broker, T0, event(_known(), "v1"))
    _late_subscribers(runtime)
    publish_at(runtime, stub_broker, T2, [event(_dates_only(), "v2"), event(_recruiting(), "v3")])
    assert notifications_by_email(runtime) == {"carl@example.org": [(NCT, "status")]}


def test_a_study_new_to_the_worker_fires_for_every_matching_subscription(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    _late_subscribers(runtime)
    publish_at(runtime, stub_broker, T0, event(_dates_only(), "v2"))
    assert notifications_by_email(runtime) == {
        "bob@example.org": [(NCT, "new_study")],
        "dora@example.org": [(NCT, "new_study")],
    }
