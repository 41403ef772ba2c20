"""`trialalerts demo`: the whole pipeline on embedded defaults with a bundled sample.

The sample (worker/cli/demo_data) is built from real registry records, cut down:
five subscribers, seven studies, then a day of updates (a new site in Italy,
a followed study completing with results, a study starting to recruit), one
duplicate, one stale event and one broken event.  The clock is set per phase
so instant, daily (Europe/Rome) and weekly (Monday, America/New_York)
digests all come due.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from worker.core.delivery_states import State
from worker.core.models import Delivery, Subscriber
from worker.core.runtime import Runtime, fixed_clock
from worker.queue.actors import install
from worker.queue.broker import make_broker
from worker.queue.pipeline import publish_stream
from worker.queue.runner import run_until_idle
from worker.subscriptions.files import read_subscription_file
from worker.subscriptions.lists import import_subscriptions

SAMPLE = Path(__file__).resolve().parent / "demo_data"
PHASES = (
    ("events.jsonl", datetime(2026, 6, 28, 18, 5, tzinfo=UTC)),
    ("updates.jsonl", datetime(2026, 6, 29, 13, 0, tzinfo=UTC)),
)


class DemoNeedsEmptyDatabase(Exception):
    """The demo writes sample data: it refuses to mix it into a database that has some."""


@dataclass
class DemoReport:
    rows: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    emails: list[tuple[str, str, Path]] = field(default_factory=list)
    preview: Path | None = None


def run_demo(runtime: Runtime, preview_path: Path) -> DemoReport:
    with runtime.sessions() as session:
        if session.scalar(select(func.count()).select_from(Subscriber)):
            raise DemoNeedsEmptyDatabase(
                f"the database {runtime.engine.url} already has subscribers; "
                "run `trialalerts demo` in an empty folder"
            )
    install(make_broker(runtime.settings, in_process=True))
    report = DemoReport()
    runtime.clock = fixed_clock(PHASES[0][1])
    with runtime.sessions() as session, session.begin():
        import_subscriptions(
            session, read_subscription_file(SAMPLE / "subscriptions.csv"), runtime.now()
        )
    for name, now in PHASES:
        runtime.clock = fixed_clock(now)
        with (SAMPLE / name).open("rb") as stream:
            published = publish_stream(stream, f"demo {name}", runtime)
        report.rejected += [r.describe() for r in published.rejections]
        run = run_until_idle(runtime)
        report.rows.append((f"{name} at {now:%a %Y-%m-%d %H:%M} UTC", run.counts))
    report.emails = _emails(runtime)
    if report.emails:
        report.preview = _write_preview(report.emails[-1][2], preview_path)
    return report


def _emails(runtime: Runtime) -> list[tuple[str, str, Path]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.frequency, Delivery.message_id)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.state == State.SENT)
            .order_by(Delivery.id)
        ).all()
    outbox = runtime.settings.outbox.resolve()
    return [(address, frequency, outbox / name) for address, frequency, name in rows]


def _write_preview(eml: Path, target: Path) -> Path:
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    html = message.get_body(preferencelist=("html",))
    target.write_text(html.get_content() if html else "", encoding="utf-8")
    return target.resolve()
