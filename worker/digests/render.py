"""Jinja2 over templates/email: one email is a subject, a plain text and an HTML body.

Each email is a folder `templates/email/<name>/{subject.txt, body.txt, body.html}`
extending the layouts in `_base/` (its README tells designers the rules).  HTML
templates are autoescaped and their CSS (`_base/email.css`) is inlined once,
when a template is loaded, not per email (see `inline_css`).  Subjects are
collapsed to one line whatever the data, so nothing from a study can reach
another header.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, lru_cache
from typing import Any, NamedTuple

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from worker.core.config import Settings
from worker.core.paths import templates_dir
from worker.core.tokens import (
    CONFIRM_MAX_AGE,
    account_links,
    confirm_url,
    stream_unsubscribe_links,
    unsubscribe_subscription_url,
)
from worker.digests.css import inline_css
from worker.digests.digest import Digest, DigestItem, Section, new_tuple, subject_line
from worker.digests.escaping import EscapingEnvironment
from worker.digests.facts import stale_status

SUBJECT_LIMIT = 200
STYLESHEET = "_base/email.css"
# C0 controls, DEL and Unicode line breaks; str.split() handles the rest.
_CONTROLS = {code: " " for code in [*range(0x20), 0x7F, 0x85, 0x2028, 0x2029]}


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


class InliningLoader(FileSystemLoader):
    """Loads templates from disk; `.html` ones come back with their CSS inlined."""

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if template.endswith(".html"):
            css, _, _ = super().get_source(environment, STYLESHEET)
            source = inline_css(source, css, name=template)
        return source, filename, uptodate


@lru_cache(maxsize=1)
def email_environment() -> Environment:
    """The Jinja2 environment over templates/email, built on first use."""
    return EscapingEnvironment(
        loader=InliningLoader(templates_dir() / "email"),
        autoescape=lambda name: bool(name and name.endswith(".html")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # templates ship with the code: no stat() per email
        cache_size=-1,
    )


@cache
def _template(name: str) -> Template:
    return email_environment().get_template(name)


def one_line(text: str, limit: int = SUBJECT_LIMIT) -> str:
    """Collapse any whitespace or control character to single spaces and cap the length."""
    if not text.isprintable():  # every one of _CONTROLS is unprintable: skip the slow translate
        text = text.translate(_CONTROLS)
    line = " ".join(text.split())
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def render_email(name: str, context: Mapping[str, Any]) -> RenderedEmail:
    """Render `templates/email/<name>/`; the bodies see the final one-line `subject`."""
    subject = one_line(_template(f"{name}/subject.txt").render(context))
    body_context = {**context, "subject": subject}
    return RenderedEmail(
        subject=subject,
        text=_template(f"{name}/body.txt").render(body_context),
        html=_template(f"{name}/body.html").render(body_context),
    )


FREQUENCY_WORDING = {
    # frequency: (label in the header, h1 title, intro, what the stream unsubscribe stops)
    "instant": (
        "Alerts",
        "New clinical trial alerts",
        "Here are your latest alerts.",
        "instant alerts",
    ),
    "daily": ("Daily digest", "Your daily digest", "Here is your daily digest.", "daily digests"),
    "weekly": (
        "Weekly digest",
        "Your weekly digest",
        "Here is your weekly digest.",
        "weekly digests",
    ),
    "monthly": (
        "Monthly digest",
        "Your monthly digest",
        "Here is your monthly digest.",
        "monthly digests",
    ),
}
PREHEADER_LIMIT = 140


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def _summary(digest: Digest) -> str:
    new = min(digest.new_count, digest.total_count)
    parts = [f"{_plural(new, 'new study', 'new studies')}"] if new else []
    if digest.total_count - new:
        parts.append(_plural(digest.total_count - new, "updated study", "updated studies"))
    text = " and ".join(parts) or "No changes"
    if digest.item_count < digest.total_count:
        text += f" (showing {digest.item_count} of {digest.total_count})"
    return text + "."


class SectionView(NamedTuple):
    """A digest section as the templates see it: the section plus its stop link.

    The section's fields are copied rather than forwarded: templates read them
    once per item, and a forwarding `__getattr__` costs a failed lookup each time.
    A NamedTuple: built in a fifth of a frozen dataclass's time, one per section.
    """

    section: Section
    stop_label: str
    stop_url: str
    kind: str
    heading: str
    items: tuple[DigestItem, ...]
    more: int
    more_url: str | None

    @classmethod
    def of(
        cls, section: Section, stop_label: str, stop_url: str, notes: _StaleNotes
    ) -> SectionView:
        return new_tuple(
            cls,
            (
                section,
                stop_label,
                stop_url,
                section.kind,
                section.heading,
                tuple([_dated(item, notes) for item in section.items]),
                section.more,
                section.more_url,
            ),
        )


_FACTS = DigestItem._fields.index("facts")


class _StaleNotes(dict[str, str]):
    """`stale_status` of each verified date on one day: a digest's studies share a few dates."""

    def __init__(self, today: date) -> None:
        super().__init__()
        self.today = today

    def __missing__(self, verified: str) -> str:
        note = self[verified] = stale_status(verified, self.today)
        return note


def _dated(item: DigestItem, notes: _StaleNotes) -> DigestItem:
    """The item, saying so when its status was last verified long before the email's day."""
    verified = item.status_verified
    if not verified:
        return item
    note = notes[verified] if type(verified) is str else stale_status(verified, notes.today)
    if not note:
        return item
    # The fields with the note added to the facts: about half of `_replace`'s cost.
    return new_tuple(DigestItem, item[:_FACTS] + ((*item.facts, note),) + item[_FACTS + 1 :])


def _stop_link(
    settings: Settings, subscriber_id: int, link_key: str, section: Section, preferences: str
) -> tuple[str, str]:
    """(label, url) of a section's "stop" link.

    A section backed by one subscription links straight to stopping it.  The
    follow section can gather several subscriptions and says nothing about
    which item came from which, so it links to the preferences page, where
    each followed study can be stopped on its own.
    """
    if len(section.subscription_ids) == 1:
        url = unsubscribe_subscription_url(
            settings, subscriber_id, section.subscription_ids[0], link_key=link_key
        )
        return ("Stop these alerts", url)
    return ("Choose which studies to stop following", preferences)


@lru_cache(maxsize=16)  # a run dates all its digests with the same day
def _date_label(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def digest_context(
    settings: Settings, subscriber: Mapping[str, Any], digest: Digest, now: datetime
) -> dict[str, Any]:
    """Everything the digest templates need; `now` dates the email (pass it in local time).

    `subscriber` has the row's `id`, `email` and `link_key` (signed into every link).
    """
    subscriber_id = int(subscriber["id"])
    link_key = subscriber["link_key"]
    label, title, intro, stream_label = FREQUENCY_WORDING.get(
        digest.frequency, FREQUENCY_WORDING["daily"]
    )
    preferences, unsubscribe_all = account_links(settings, subscriber_id, link_key=link_key)
    notes = _StaleNotes(now.date())
    sections = [
        SectionView.of(
            section,
            *_stop_link(settings, subscriber_id, link_key, section, preferences),
            notes,
        )
        for section in digest.sections
    ]
    unsubscribe, mailto = stream_unsubscribe_links(
        settings, subscriber_id, digest.frequency, link_key=link_key
    )
    summary = _summary(digest)
    headings = ", ".join(section.heading for section in digest.sections)
    return {
        "lang": "en",
        "base_url": settings.base_url,
        "postal_address": settings.postal_address,
        "subject_line": subject_line(digest),
        "preheader": one_line(f"{summary} {headings}", PREHEADER_LIMIT),
        "digest_label": label,
        "date_label": _date_label(now.date()),
        "title": title,
        "intro": intro,
        "summary": summary,
        "stream_label": stream_label,
        "sections": sections,
        "unsubscribe_url": unsubscribe,
        "unsubscribe_mailto": mailto,
        "preferences_url": preferences,
        "unsubscribe_all_url": unsubscribe_all,
    }


def confirm_context(
    settings: Settings, *, signup_id: int, link_key: str, target: str, now: datetime
) -> dict[str, Any]:
    """The double opt-in email: `target` is the condition text or the followed NCT id.

    `link_key` is the sign-up row's, signed into the link.
    """
    target = one_line(target, 120)
    return {
        "lang": "en",
        "base_url": settings.base_url,
        "postal_address": settings.postal_address,
        "preheader": f"One click to start your alerts for {target}.",
        "target": target,
        "confirm_url": confirm_url(settings, signup_id, link_key=link_key, now=now),
        "valid_days": CONFIRM_MAX_AGE.days,
    }
