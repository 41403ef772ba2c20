"""Criteria made by older matching rules are recomputed, and matching follows the new words."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import create_engine, select, text, update

from tests.integration.cli.test_cli import trialalerts
from tests.integration.matching.test_fanout import condition
from tests.integration.pipeline_helpers import notifications_by_email, publish_at, subscribe
from tests.support import event, record
from worker.core.models import Criteria, Subscription
from worker.core.runtime import Runtime
from worker.matching.criteria import CriteriaSpec, ensure_criteria, recompute_criteria

T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)
T1 = datetime(2026, 6, 2, 9, tzinfo=UTC)
# What "renal cancer" was before renal and kidney were one word.
OLD_WORDS = "neoplasm renal"
OLD = CriteriaSpec(
    signature=orjson.dumps([OLD_WORDS, [], [], None]).decode(),
    words=OLD_WORDS,
    match_key="renal",
    statuses=(),
    countries=(),
    near=None,
)


def _kidney_study(nct_id: str) -> dict[str, Any]:
    data = record("NCT00973089")
    data["protocolSection"]["identificationModule"]["nctId"] = nct_id
    data["protocolSection"]["conditionsModule"] = {"conditions": ["Kidney Cancer"]}
    data.pop("derivedSection", None)
    return data


def _words_of_ada(runtime: Runtime) -> str:
    with runtime.sessions() as session:
        return session.scalars(
            select(Criteria.words).join(Subscription, Subscription.criteria_id == Criteria.id)
        ).one()


def test_a_criteria_of_older_rules_is_recomputed_and_then_matches(
    runtime: Runtime, stub_broker: StubBroker
) -> None:
    subscribe(runtime, [condition("ada@example.org", "renal cancer")])
    with runtime.sessions() as session, session.begin():
        assert recompute_criteria(session, T0).moved == 0  # made by today's rules
        old_id = ensure_criteria(session, [OLD], T0)[OLD.signature]
        session.execute(update(Subscription).values(criteria_id=old_id))
    publish_at(runtime, stub_broker, T0, event(_kidney_study("NCT90000101"), "k1"))
    assert notifications_by_email(runtime) == {}

    with runtime.sessions() as session, session.begin():
        done = recompute_criteria(session, T1)
    assert (done.checked, done.moved, done.failed) == (1, 1, [])
    assert _words_of_ada(runtime) == "kidney neoplasm"
    publish_at(runtime, stub_broker, T1, event(_kidney_study("NCT90000102"), "k2"))
    assert notifications_by_email(runtime) == {"ada@example.org": [("NCT90000102", "new_study")]}


def test_db_upgrade_recomputes_criteria(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trialalerts.db'}"
    env = {"TRIALALERTS_DATABASE_URL": url}
    rows = tmp_path / "subscriptions.jsonl"
    rows.write_text(json.dumps(condition("ada@example.org", "renal cancer")) + "\n")
    assert trialalerts("subscribers", "import", str(rows), cwd=tmp_path, env=env).returncode == 0
    engine = create_engine(url)
    with engine.begin() as connection:  # the row as an older version of the rules wrote it
        connection.execute(
            text("UPDATE criteria SET words = :w, match_key = 'renal', signature = :s"),
            {"w": OLD_WORDS, "s": OLD.signature},
        )
    upgraded = trialalerts("db", "upgrade", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "criteria: 1 of 1 condition subscriptions re-pointed" in upgraded.stdout
    with engine.connect() as connection:
        words = connection.execute(
            text("SELECT c.words FROM subscriptions s JOIN criteria c ON c.id = s.criteria_id")
        ).scalar_one()
    engine.dispose()
    assert words == "kidney neoplasm"
