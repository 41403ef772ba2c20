"""Eligibility filters and places end to end, as an admin runs them, on both databases.

Import a file with a bad line among good ones, publish real records, run the
pipeline until idle: only the subscriptions whose filters accept a study hear
of it.  (Export and re-import: tests/integration/subscriptions/test_filters.py.)
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, select

from tests.integration.cli.test_cli import trialalerts
from tests.support import event, record, write_jsonl
from worker.core.models import Notification, Subscriber

HEADER = "email,kind,condition,near,frequency,age,sex,healthy_volunteers,phases,study_types"
ROWS = [
    # NCT02210780: atopic dermatitis, 18 to 64 years, phase 2, no healthy volunteers.
    "adult@example.org,condition,atopic dermatitis,,daily,40,female,,PHASE2;PHASE3,INTERVENTIONAL",
    "senior@example.org,condition,atopic dermatitis,,daily,70,,,,",
    "bad@example.org,condition,atopic dermatitis,,daily,200,,,,",
    "healthy@example.org,condition,atopic dermatitis,,daily,,,true,,",
    # NCT04267848: lung cancer, 18 and over, phase 3, a site in Anchorage (ZIP 99501).
    'anchorage@example.org,condition,lung cancer,"Anchorage, United States;50",daily,30,,,,',
    "zip@example.org,condition,lung cancer,99501;50,daily,17,,,,",
    'milan@example.org,condition,lung cancer,"Milan, Italy;50",daily,30,,,,',
    'nowhere@example.org,condition,lung cancer,"Springfield, United States;50",daily,,,,,',
]


def test_filtered_subscriptions_hear_only_of_studies_that_accept_them(
    tmp_path: Path, database_url: str
) -> None:
    env = {"TRIALALERTS_DATABASE_URL": database_url}
    subscriptions = tmp_path / "subs.csv"
    subscriptions.write_text("\n".join([HEADER, *ROWS]) + "\n")
    imported = trialalerts("subscribers", "import", str(subscriptions), cwd=tmp_path, env=env)
    assert imported.returncode == 1
    assert "6 created, 0 updated, 0 unchanged, 2 rejected" in imported.stdout
    assert "line 4: age '200': expected whole years from 0 to 120" in imported.stderr
    assert "line 9: near 'Springfield, United States;50'" in imported.stderr
    assert '"Springfield, Illinois, United States"' in imported.stderr

    events = [event(record(name), f"e-{name}") for name in ("NCT02210780", "NCT04267848")]
    published = trialalerts(
        "publish", str(write_jsonl(tmp_path / "e.jsonl", events)), cwd=tmp_path, env=env
    )
    assert published.returncode == 0, published.stderr
    run = trialalerts("run", "--until-idle", "--now", "2026-06-27T10:00:00Z", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr

    engine = create_engine(database_url)
    with engine.connect() as connection:
        told = connection.execute(
            select(Subscriber.email, Notification.nct_id)
            .join(Notification, Notification.subscriber_id == Subscriber.id)
            .order_by(Subscriber.email)
        ).all()
        people = set(connection.scalars(select(Subscriber.email)))
    engine.dispose()
    assert [tuple(row) for row in told] == [
        ("adult@example.org", "NCT02210780"),
        ("anchorage@example.org", "NCT04267848"),
    ]
    assert "bad@example.org" not in people and "nowhere@example.org" not in people
