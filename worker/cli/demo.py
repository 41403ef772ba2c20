"""`trialalerts demo`: the whole pipeline on embedded defaults with a bundled sample.

The sample (worker/cli/demo_data) is built from real registry records, cut down:
seven subscribers, seven studies, then a day of updates (a new site in Italy,
a followed study completing with results, a study starting to recruit), one
duplicate, one stale event and one broken event.  The clock is set per phase
so instant, daily (Europe/Rome) and weekly (Monday, America/New_York)
digests all come due.

Two subscribers show what patients ask for.  Fay (lung cancer, within 50 km
of ZIP code 99577, Eagle River, Alaska, age 62) hears of the lung study through its nearest
site; the day's update of that study adds a recruiting site in Anchorage (the
Katmai Oncology Group, as the registry lists it in the full record) and
reopens another: "a site opened near you".  Gil (melanoma, age 17) gets only
the melanoma study that takes people from 16; Carla's melanoma alert, without
an age, gets all three.
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
from worker.digests.facts import SITE_LINE_STARTS
from worker.queue.actors import install
from worker.queue.broker import make_broker
from worker.queue.pipeline import publish_stream
from worker.queue.runner import run_until_idle
from worker.subscriptions.files import read_subscription_file
from worker.subscriptions.lists import import_subscriptions
from worker.subscriptions.views import subscription_views

SAMPLE = Path(__file__).resolve().parent / "demo_data"
PHASES = (
    ("events.jsonl", datetime(2026, 6, 28, 18, 5, tzinfo=UTC)),
    ("updates.jsonl", datetime(2026, 6, 29, 13, 0, tzinfo=UTC)),
)


class DemoNeedsEmptyDatabase(Exception):
    """The demo writes sample data: it refuses to mix it into a database that has some."""


@dataclass(frozen=True)
class DemoEmail:
    address: str
    frequency: str
    path: Path
    subject: str
    sites: tuple[str, ...]  # its lines naming a site near the subscriber


@dataclass
class DemoReport:
    subscriptions: list[tuple[str, str, str]] = field(
        default_factory=list
    )  # email, how often, what
    rows: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    emails: list[DemoEmail] = field(default_factory=list)
    preview: Path | None = None

    def lines(self) -> list[str]:
        """What `trialalerts demo` prints."""
        lines = [f"subscriptions (from {SAMPLE.name}/subscriptions.csv):"]
        lines += [f"  {a:<20} {f:<8} {what}" for a, f, what in self.subscriptions]
        columns = ("events", "changes", "notifications", "emails")
        lines += ["", f"{'after':<42}" + "".join(f"{c:>15}" for c in columns)]
        for label, counts in self.rows:
            lines.append(f"{label:<42}" + "".join(f"{counts.get(c, 0):>15}" for c in columns))
        lines += [f"rejected (kept as a dead letter): {reason}" for reason in self.rejected]
        lines.append("")
        for sent in self.emails:
            lines.append(f"{sent.frequency:<8} digest to {sent.address:<20} {sent.path}")
            lines.append(f"{'':<9}{sent.subject}")
            lines += [f"{'':<11}{site}" for site in sent.sites]
        if self.preview:
            lines.append(f"HTML preview: {self.preview}")
        return lines


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
    report.subscriptions = _subscriptions(runtime)
    for name, now in PHASES:
        runtime.clock = fixed_clock(now)
        with (SAMPLE / name).open("rb") as stream:
            published = publish_stream(stream, f"demo {name}", runtime)
        report.rejected += [r.describe() for r in published.rejections]
        run = run_until_idle(runtime)
        report.rows.append((f"{name} at {now:%a %Y-%m-%d %H:%M} UTC", run.counts))
    report.emails = _emails(runtime)
    if report.emails:
        report.preview = _write_preview(_showcase(report.emails).path, preview_path)
    return report


def _subscriptions(runtime: Runtime) -> list[tuple[str, str, str]]:
    """Each imported subscription in words, with its filters, as the preferences page says it."""
    with runtime.sessions() as session:
        people = session.execute(select(Subscriber.id, Subscriber.email).order_by(Subscriber.id))
        return [
            (address, view.frequency, " · ".join((view.label, *view.filters)))
            for subscriber_id, address in people.all()
            for view in subscription_views(session, subscriber_id)
        ]


def _emails(runtime: Runtime) -> list[DemoEmail]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.frequency, Delivery.message_id)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.state == State.SENT)
            .order_by(Delivery.id)
        ).all()
    outbox = runtime.settings.outbox.resolve()
    return [_read(address, frequency, outbox / name) for address, frequency, name in rows]


def _read(address: str, frequency: str, path: Path) -> DemoEmail:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    text = message.get_body(preferencelist=("plain",))
    lines = (line.strip(" -") for line in (text.get_content() if text else "").splitlines())
    sites = tuple(line for line in lines if line.startswith(SITE_LINE_STARTS))
    return DemoEmail(address, frequency, path, str(message["Subject"]), sites)


def _showcase(emails: list[DemoEmail]) -> DemoEmail:
    """The email the HTML preview shows: the last one naming a site that opened near you."""
    opened = [sent for sent in emails if any(not s.startswith("Nearest") for s in sent.sites)]
    return (opened or emails)[-1]


def _write_preview(eml: Path, target: Path) -> Path:
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    html = message.get_body(preferencelist=("html",))
    target.write_text(html.get_content() if html else "", encoding="utf-8")
    return target.resolve()
