"""Group one subscriber's pending notifications into one digest.

A digest answers "what happened to the studies I care about": each study
appears once, however many of the subscriber's subscriptions matched it or
however many changes it had; studies sit under the condition alert that found
them, or under the studies the subscriber follows. The item cap keeps the
email under Gmail's clipping size; what it leaves out is counted per section
so the template can say "and N more". Output is plain frozen data for the
templates, built deterministically from the input whatever its order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from worker.change_labels import (  # change_lines and status_label are part of this API
    KIND_ORDER,
    SITE_KINDS,
    change_lines,
    clean_text,
    status_label,
)

DEFAULT_ITEM_CAP = 25
MAX_CHANGE_LINES = 8
MAX_SITE_LINES = 5
SUBJECT_LIMIT = 120
LABEL_LIMIT = 120
STUDY_URL = "https://clinicaltrials.gov/study/"
SEARCH_URL = "https://clinicaltrials.gov/search?cond="
FOLLOW_HEADING = "Updates to studies you follow"


@dataclass(frozen=True)
class SubscriptionRef:
    id: int
    kind: str  # "condition" | "study"
    label: str  # the condition text, or the followed NCT id


@dataclass(frozen=True)
class PendingNotification:
    id: int
    nct_id: str
    title: str  # current brief title
    status: str  # current overallStatus
    kind: str  # a change kind, see worker.change_labels.FORMATTERS
    field: str | None
    before: Any
    after: Any
    subscriptions: tuple[SubscriptionRef, ...]  # this subscriber's subscriptions that matched
    created_at: datetime


@dataclass(frozen=True)
class DigestItem:
    nct_id: str
    title: str
    status: str  # human label, e.g. "Recruiting"
    url: str
    is_new: bool  # a new study rather than an update
    changes: tuple[str, ...]  # human change lines
    matched_by: tuple[str, ...]  # labels of every subscription that matched it


@dataclass(frozen=True)
class Section:
    kind: str  # "condition" | "study"
    heading: str
    subscription_ids: tuple[int, ...]  # for the section's "stop these alerts" link
    items: tuple[DigestItem, ...]
    more: int  # items left out by the cap
    more_url: str | None  # registry search for the condition; None for the follow section


@dataclass(frozen=True)
class Digest:
    frequency: str
    sections: tuple[Section, ...]
    item_count: int  # items shown
    total_count: int  # distinct studies in the digest
    notification_ids: tuple[int, ...]  # every notification consumed, capped ones included
    new_count: int = 0  # distinct new studies, capped ones included


@dataclass
class _Study:
    nct_id: str
    notifications: list[PendingNotification]  # ascending id: oldest first
    refs: list[SubscriptionRef]  # condition refs first, each kind by id
    is_new: bool

    @property
    def home(self) -> SubscriptionRef | None:
        """The condition subscription whose section shows this study, if any."""
        first = self.refs[0] if self.refs else None
        return first if first is not None and first.kind == "condition" else None


def _id_key(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _nct_id(notification: PendingNotification) -> str:
    value = notification.nct_id
    return value if isinstance(value, str) else str(value or "")


def _refs(notifications: list[PendingNotification]) -> list[SubscriptionRef]:
    by_id: dict[Any, SubscriptionRef] = {}
    for notification in notifications:
        for ref in notification.subscriptions or ():
            if isinstance(ref, SubscriptionRef):
                by_id.setdefault((ref.kind, ref.id), ref)
    return sorted(by_id.values(), key=lambda ref: (ref.kind != "condition", _id_key(ref.id)))


def _group(notifications: Sequence[PendingNotification]) -> list[_Study]:
    by_nct: dict[str, list[PendingNotification]] = {}
    for notification in notifications:
        by_nct.setdefault(_nct_id(notification), []).append(notification)
    studies = []
    for nct_id, group in by_nct.items():
        group.sort(key=lambda n: _id_key(n.id))
        is_new = any(n.kind == "new_study" for n in group)
        studies.append(_Study(nct_id, group, _refs(group), is_new))
    return studies


def _sort_items(studies: list[_Study]) -> list[_Study]:
    return sorted(studies, key=lambda study: (not study.is_new, study.nct_id))


def _latest_text(study: _Study, attribute: str) -> str:
    """The newest non-empty title/status, else the one recorded by new_study/removed."""
    for notification in reversed(study.notifications):
        value = getattr(notification, attribute, None)
        if isinstance(value, str) and value:
            return value
    for notification in reversed(study.notifications):
        recorded = notification.after if notification.kind == "new_study" else notification.before
        if notification.kind in ("new_study", "removed") and isinstance(recorded, dict):
            value = recorded.get(attribute)
            if isinstance(value, str) and value:
                return value
    return ""


def _change_lines(study: _Study) -> tuple[str, ...]:
    """Merged, deduped lines in kind order; long site lists collapse to a count."""
    last_rank = len(KIND_ORDER)
    ordered = sorted(
        study.notifications,
        key=lambda n: KIND_ORDER.get(n.kind, last_rank) if isinstance(n.kind, str) else last_rank,
    )
    shown: list[str] = []
    seen: set[str] = set()
    shown_sites = hidden_sites = hidden_other = 0
    for notification in ordered:
        is_site = isinstance(notification.kind, str) and notification.kind in SITE_KINDS
        for line in change_lines(
            notification.kind, notification.field, notification.before, notification.after
        ):
            if line in seen:
                continue
            seen.add(line)
            if is_site:
                if shown_sites < MAX_SITE_LINES and len(shown) < MAX_CHANGE_LINES:
                    shown.append(line)
                    shown_sites += 1
                else:
                    hidden_sites += 1
            elif len(shown) < MAX_CHANGE_LINES:
                shown.append(line)
            else:
                hidden_other += 1
    if hidden_sites:
        shown.append(f"and {hidden_sites} more site change{'s' if hidden_sites != 1 else ''}")
    if hidden_other:
        shown.append(f"and {hidden_other} more change{'s' if hidden_other != 1 else ''}")
    return tuple(shown)


def _matched_by(study: _Study) -> tuple[str, ...]:
    labels: list[str] = []
    seen: set[str] = set()
    for ref in study.refs:
        label = clean_text(ref.label if ref.label is not None else "", LABEL_LIMIT)
        if label and label.casefold() not in seen:
            seen.add(label.casefold())
            labels.append(label)
    return tuple(labels)


def _item(study: _Study) -> DigestItem:
    return DigestItem(
        nct_id=study.nct_id,
        title=_latest_text(study, "title") or study.nct_id,
        status=status_label(_latest_text(study, "status")),
        url=STUDY_URL + quote(study.nct_id, safe=""),
        is_new=study.is_new,
        changes=_change_lines(study),
        matched_by=_matched_by(study),
    )


def _section_plan(studies: list[_Study]) -> list[tuple[SubscriptionRef | None, list[_Study]]]:
    """(home condition or None for follows, its studies) in section order."""
    by_home: dict[Any, tuple[SubscriptionRef, list[_Study]]] = {}
    followed: list[_Study] = []
    for study in studies:
        home = study.home
        if home is None:
            followed.append(study)
        else:
            by_home.setdefault(home.id, (home, []))[1].append(study)
    plan: list[tuple[SubscriptionRef | None, list[_Study]]] = [
        by_home[key] for key in sorted(by_home, key=_id_key)
    ]
    if followed:
        plan.append((None, followed))
    return plan


def build_digest(
    frequency: str, notifications: Sequence[PendingNotification], cap: int = DEFAULT_ITEM_CAP
) -> Digest | None:
    """One digest from one subscriber's pending notifications of one frequency; None if none."""
    if not notifications:
        return None
    studies = _group(notifications)
    room = max(cap, 0)
    sections: list[Section] = []
    for home, members in _section_plan(studies):
        ordered = _sort_items(members)
        shown = tuple(_item(study) for study in ordered[:room])
        room -= len(shown)
        if home is None:
            follow_ids = {
                ref.id for study in members for ref in study.refs if ref.kind != "condition"
            }
            sections.append(
                Section(
                    "study",
                    FOLLOW_HEADING,
                    tuple(sorted(follow_ids, key=_id_key)),
                    shown,
                    len(ordered) - len(shown),
                    None,
                )
            )
        else:
            label = home.label if isinstance(home.label, str) else str(home.label)
            sections.append(
                Section(
                    "condition",
                    f"New studies for {clean_text(label, LABEL_LIMIT)}",
                    (home.id,),
                    shown,
                    len(ordered) - len(shown),
                    SEARCH_URL + quote(" ".join(label.split()), safe=""),
                )
            )
    return Digest(
        frequency=frequency,
        sections=tuple(sections),
        item_count=sum(len(section.items) for section in sections),
        total_count=len(studies),
        notification_ids=tuple(sorted({n.id for n in notifications}, key=_id_key)),
        new_count=sum(1 for study in studies if study.is_new),
    )


def subject_line(digest: Digest) -> str:
    """A short one-line subject built from counts only, so no data can break it."""
    new = max(getattr(digest, "new_count", 0), 0)
    updates = max(digest.total_count - new, 0)
    parts = []
    if new:
        parts.append(f"{new} new {'study' if new == 1 else 'studies'}")
    if updates:
        parts.append(f"{updates} {'update' if updates == 1 else 'updates'}")
    if not parts:
        return "Your clinical trial alerts"
    return clean_text(" and ".join(parts) + " for your clinical trial alerts", SUBJECT_LIMIT)
