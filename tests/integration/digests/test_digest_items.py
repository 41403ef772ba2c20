"""Digest items a patient can act on, sent through the pipeline on both databases.

The phase, who can join, how stale the status is and the site near the
subscriber come from the stored summary and the notification, not from the
renderer working them out again.
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from pathlib import Path

from dramatiq.brokers.stub import StubBroker

from tests.integration.matching.test_fanout import condition, follow
from tests.integration.matching.test_sites_opened import (
    BARCELONA,
    DEL_MAR_SITE,
    MADRID,
    NCT,
    T0,
    T1,
    _site,
    version,
)
from tests.integration.pipeline_helpers import publish_at, subscribe, tick
from tests.support import event, record
from worker.core.runtime import Runtime

MONDAY_MORNING = datetime(2026, 6, 8, 8, tzinfo=UTC)


def _bodies(runtime: Runtime) -> dict[str, tuple[str, str]]:
    """email → (text, HTML with its tags taken out) of the one digest each got."""
    found = {}
    for path in sorted(Path(runtime.settings.outbox).glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        found[message["To"]] = (text, " ".join(re.sub(r"<[^>]+>", " ", html).split()))
    return found


def test_a_site_opened_near_you_and_the_study_facts_reach_the_email(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    publish_at(runtime, stub_broker, T0, event(record(NCT), "v1"))
    subscribe(
        runtime,
        [
            condition("ada@example.org", "coronary artery disease", near=BARCELONA),
            condition("bob@example.org", "coronary artery disease", near=MADRID),
            follow("carl@example.org", NCT),
        ],
    )
    del_mar = _site(*DEL_MAR_SITE[:2], "RECRUITING", *DEL_MAR_SITE[2:])
    la_paz = _site("Hospital Universitario La Paz", "Madrid", "RECRUITING", 40.4810, -3.6870)
    publish_at(runtime, stub_broker, T1, event(version("2026-06-02", del_mar, la_paz), "v2"))
    assert tick(runtime, stub_broker, MONDAY_MORNING) == 3
    bodies = _bodies(runtime)

    opened = "A site opened near you: Hospital del Mar, Barcelona, Spain, 2.1 km (1.3 mi)"
    stale = "Status last verified 79 months ago: it may not be current"  # 2019-11 → 2026-06
    for body in bodies["ada@example.org"]:
        assert opened in body
        assert "New site near you · NCT03475563" in body
        assert "Observational study: researchers follow people" in body
        assert "Who can join: aged 18 and over · all sexes · no healthy volunteers" in body
        assert stale in body
        assert "La Paz" not in body  # 500 km away: not news to Ada
    for body in bodies["bob@example.org"]:  # the study newly matches around Madrid
        assert "Nearest site: Hospital Universitario La Paz, Madrid, Spain, 7.3 km (4.5 mi)" in body
        assert "A site opened near you" not in body
    for body in bodies["carl@example.org"]:  # a follower, with no place: every site change
        assert "New site: Hospital del Mar, Barcelona, Spain (Recruiting)" in body
        assert "near you" not in body and stale in body
