"""A removed subscriber's emailed links never reach whoever comes next, even under the same id.

Dan gets a digest through the real CLI; an admin removes him and imports Zed.
Dan's links (kept in his mailbox) are then opened in the WSGI app: they must
answer 404 and neither show nor stop anything of Zed's, whether Zed got a new
id or, forced, Dan's old one.
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import create_engine, select, text

from tests.integration.cli.test_cli import trialalerts
from tests.support import event, record, write_jsonl
from worker.core.config import Settings
from worker.core.models import Subscriber, Subscription
from worker.core.runtime import Runtime
from worker.subscriptions.unsubscribe import NothingToStop, unsubscribe_by_mail
from worker.web.app import create_app

ONE_CLICK = {
    "data": "List-Unsubscribe=One-Click",
    "content_type": "application/x-www-form-urlencoded",
}


def _cli(tmp_path: Path, database_url: str, *args: str) -> str:
    result = trialalerts(*args, cwd=tmp_path, env={"TRIALALERTS_DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    return result.stdout


def _import(tmp_path: Path, database_url: str, address: str) -> None:
    rows = tmp_path / f"{address}.csv"
    rows.write_text(f"email,kind,condition\n{address},condition,lung cancer\n")
    _cli(tmp_path, database_url, "subscribers", "import", str(rows))


def _dans_links(tmp_path: Path, database_url: str) -> tuple[dict[str, str], str]:
    """Dan's daily digest, sent through the CLI: its web links by kind, its mailto: subject."""
    _import(tmp_path, database_url, "dan@example.org")
    events = write_jsonl(tmp_path / "events.jsonl", [event(record("NCT04267848"), "e1")])
    _cli(tmp_path, database_url, "publish", str(events))
    _cli(tmp_path, database_url, "run", "--until-idle", "--now", "2026-06-28T18:00:00Z")
    _cli(tmp_path, database_url, "run", "--until-idle", "--now", "2026-06-29T08:00:00Z")
    [path] = (tmp_path / "outbox").glob("*.eml")
    digest = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert digest["To"] == "dan@example.org"
    html = digest.get_body(preferencelist=("html",))
    assert html is not None
    hrefs = re.findall(r'href="(https?://[^"]+)"', html.get_content())
    https, mailto = re.findall(r"<([^>]+)>", str(digest["List-Unsubscribe"]))
    links = {
        "stream": https,
        "subscription": next(h for h in hrefs if "/u/s/" in h),
        "all": next(h for h in hrefs if "/u/all/" in h),
        "preferences": next(h for h in hrefs if "/preferences/" in h),
    }
    paths = {kind: urlsplit(url).path for kind, url in links.items()}
    return paths, unquote(mailto.split("subject=", 1)[1])


def _insert_subscriber(database_url: str, subscriber_id: int, address: str) -> None:
    """Zed's row under an id chosen here: what id reuse (or a restored backup) would do."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO subscribers (id, link_key, legacy_links, email, timezone, "
                "send_hour, soft_bounces, created_at) VALUES "
                "(:id, 'zeds-own-link-key-0000', false, :email, 'UTC', 8, 0, :now)"
            ),
            {"id": subscriber_id, "email": address, "now": datetime(2026, 6, 30, tzinfo=UTC)},
        )
    engine.dispose()


@pytest.mark.parametrize("zeds_id", ["a new id", "dan's id"])
def test_a_removed_subscribers_links_never_reach_the_next_subscriber(
    tmp_path: Path, database_url: str, zeds_id: str
) -> None:
    links, mailto_subject = _dans_links(tmp_path, database_url)
    runtime = Runtime(
        Settings(
            database_url=database_url,
            secret_keys=((tmp_path / ".trialalerts-secret").read_text().strip(),),
        )
    )
    with runtime.sessions() as session:
        dans_id = session.scalar(select(Subscriber.id))
    assert dans_id is not None
    client = create_app(runtime).test_client()
    assert client.get(links["preferences"]).status_code == 200  # the links work for Dan

    _cli(tmp_path, database_url, "subscribers", "remove", "dan@example.org")
    if zeds_id == "dan's id":
        _insert_subscriber(database_url, dans_id, "zed@example.org")
    _import(tmp_path, database_url, "zed@example.org")
    with runtime.sessions() as session:
        zed = session.execute(select(Subscriber.id, Subscriber.email)).one()
    assert zed.email == "zed@example.org"
    assert (zed.id == dans_id) == (zeds_id == "dan's id")

    for kind, path in links.items():
        shown = client.get(path)
        assert shown.status_code == 404, kind
        assert "zed@" not in shown.get_data(as_text=True), kind
        assert client.post(path, **ONE_CLICK).status_code in (403, 404), kind
    with pytest.raises(NothingToStop):  # a mail to the List-Unsubscribe mailbox
        unsubscribe_by_mail(mailto_subject, runtime)
    with runtime.sessions() as session:
        assert session.scalars(select(Subscription.active)).all() == [True]
    runtime.close()
