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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from operator import attrgetter
from typing import Any, NamedTuple
from urllib.parse import quote

from worker.digests.facts import opened_note, site_line, study_lines
from worker.digests.labels import (  # change_lines and status_label are part of this API
    KIND_ORDER,
    SITE_KINDS,
    change_line_tuple,
    change_lines,  # noqa: F401 (part of this API, see above)
    clean_text,
    status_label,
    status_note,
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
    kind: str  # a change kind, see worker.digests.labels.FORMATTERS
    field: str | None
    before: Any
    after: Any
    subscriptions: tuple[SubscriptionRef, ...]  # this subscriber's subscriptions that matched
    created_at: datetime
    # The study's summary keys a digest shows (phases, study_type, eligibility,
    # status_verified); None when unknown.  One mapping per study is shared.
    facts: Mapping[str, Any] | None = None
    # The site near the subscriber this is about (worker/matching/nearby.py SiteNote).
    near_site: Mapping[str, Any] | None = None


class DigestItem(NamedTuple):
    """One study of a digest, as the templates show it.

    A NamedTuple rather than a frozen dataclass: a digest builds one per
    study (and render one more per study with a stale status), and a
    NamedTuple is built in a third of the time.
    """

    nct_id: str
    title: str
    status: str  # human label, e.g. "Recruiting"
    url: str
    is_new: bool  # a new study rather than an update
    changes: tuple[str, ...]  # human change lines
    matched_by: tuple[str, ...]  # labels of every subscription that matched it
    status_note: str = ""  # what the status means for a would-be participant
    facts: tuple[str, ...] = ()  # phase, who can join, nearest site: one line each
    site_opened: bool = False  # "a site opened near you" is among the changes
    status_verified: str | None = None  # the registry's statusVerifiedDate, for render


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


# A NamedTuple built by calling its class runs a Python-level __new__ that
# checks the fields; one built from a tuple of every field in order skips it
# (as `_make` does) at about 40% of the cost.  A digest builds a few of them per study.
new_tuple = tuple.__new__


class _Study(NamedTuple):
    """A study's notifications and what they say together; a NamedTuple: one per study."""

    nct_id: str
    notifications: list[PendingNotification]  # ascending id: oldest first
    refs: list[SubscriptionRef]  # condition refs first, each kind by id
    is_new: bool
    matched_by: tuple[str, ...]  # labels of `refs`, cleaned and deduped
    site_opened: bool  # a site opened near the subscriber: a change of a study they knew

    @property
    def home(self) -> SubscriptionRef | None:
        """The condition subscription whose section shows this study, if any."""
        first = self.refs[0] if self.refs else None
        return first if first is not None and first.kind == "condition" else None


def _id_key(value: Any) -> int:
    return value if isinstance(value, int) else 0


_PLAIN_INTS = frozenset({int, bool})
_ID = attrgetter("id")


def _sort_as_themselves(ids: Iterable[Any]) -> bool:
    """Whether these ids need no key function to sort: all of types int or bool.

    Any other int (a subclass) sorts as itself through `_id_key` too, to the same order.
    """
    return _PLAIN_INTS.issuperset(map(type, ids))


def _sorted_ids(ids: set[Any]) -> tuple[Any, ...]:
    if _sort_as_themselves(ids):
        return tuple(sorted(ids))
    return tuple(sorted(ids, key=_id_key))


def _by_id(group: list[PendingNotification]) -> None:
    """Oldest first; ids that are not ints sort as 0 (the order is stable)."""
    if _sort_as_themselves(map(_ID, group)):
        group.sort(key=_ID)
    else:
        group.sort(key=lambda n: _id_key(n.id))


def _refs(notifications: list[PendingNotification]) -> list[SubscriptionRef]:
    by_id: dict[Any, SubscriptionRef] = {}
    for notification in notifications:
        for ref in notification.subscriptions or ():
            if isinstance(ref, SubscriptionRef):
                by_id.setdefault((ref.kind, ref.id), ref)
    return sorted(by_id.values(), key=lambda ref: (ref.kind != "condition", _id_key(ref.id)))


def _refs_and_labels(
    notifications: list[PendingNotification],
) -> tuple[list[SubscriptionRef], tuple[str, ...]]:
    refs = _refs(notifications)
    return refs, _matched_by(refs)


def _one_ref_and_label(ref: Any) -> tuple[list[SubscriptionRef], tuple[str, ...]]:
    """`_refs_and_labels` of notifications that all share one subscription ref."""
    refs = [ref] if isinstance(ref, SubscriptionRef) else []
    return refs, _matched_by(refs)


def _ref_ids(notification: PendingNotification) -> tuple[int, ...] | None:
    """The identity of a notification's subscription refs, or None if they are not a tuple."""
    subscriptions = notification.subscriptions
    return tuple(map(id, subscriptions)) if type(subscriptions) is tuple else None


def _group(notifications: Sequence[PendingNotification]) -> list[_Study]:
    """One _Study per NCT id, in first-seen order.

    The studies of a digest mostly share the same one or two subscriptions, so
    their refs and "matched by" labels are worked out once per distinct set,
    keyed by the ids of the ref objects (the caller shares one ref per
    subscription; they all stay alive for the whole call).
    """
    by_nct: dict[str, list[PendingNotification]] = {}
    for notification in notifications:
        nct_id = notification.nct_id
        if not isinstance(nct_id, str):
            nct_id = str(nct_id or "")
        group = by_nct.get(nct_id)
        if group is None:
            by_nct[nct_id] = [notification]
        else:
            group.append(notification)
    memo: dict[tuple[int, ...], tuple[list[SubscriptionRef], tuple[str, ...]]] = {}
    studies = []
    for nct_id, group in by_nct.items():
        first = group[0]
        subscriptions = first.subscriptions  # _ref_ids(first), inline: once per study
        key = tuple(map(id, subscriptions)) if type(subscriptions) is tuple else None
        if len(group) == 1:
            is_new = first.kind == "new_study"
            site_opened = not is_new and opened_note(first.near_site)
        else:
            _by_id(group)
            is_new = site_opened = False
            for n in group:  # one pass rather than three any(): a study has a few notifications
                if n.kind == "new_study":
                    is_new = True
                if not site_opened and n.near_site is not None and opened_note(n.near_site):
                    site_opened = True
                if key is not None and _ref_ids(n) != key:
                    key = None  # the notifications disagree: merge their refs
            site_opened = site_opened and not is_new
        if key is None:
            found = _refs_and_labels(group)
        elif key in memo:
            found = memo[key]
        elif len(key) == 1:  # one subscription matched: nothing to merge or sort
            found = memo[key] = _one_ref_and_label(first.subscriptions[0])
        else:
            found = memo[key] = _refs_and_labels(group)
        studies.append(new_tuple(_Study, (nct_id, group, found[0], is_new, found[1], site_opened)))
    return studies


_NCT_ID = attrgetter("nct_id")
_IS_NEW = attrgetter("is_new")


def _sort_items(studies: list[_Study]) -> list[_Study]:
    """New studies first, each part by NCT id: two sorts on C keys, the second stable."""
    ordered = sorted(studies, key=_NCT_ID)
    ordered.sort(key=_IS_NEW, reverse=True)  # reverse keeps equal keys in their order
    return ordered


def _latest_text(study: _Study, attribute: str) -> str:
    """The newest non-empty title/status, else the one recorded by new_study/removed."""
    newest = getattr(study.notifications[-1], attribute, None)
    if isinstance(newest, str) and newest:
        return newest
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


_LAST_RANK = len(KIND_ORDER)


_OPENED_RANK = KIND_ORDER["results_posted"] + 0.5  # right after results posted


def _by_kind(notification: PendingNotification) -> float:
    # Most notifications have no site note: None is answered before calling opened_note.
    if notification.near_site is not None and opened_note(notification.near_site):
        return _OPENED_RANK
    kind = notification.kind
    return KIND_ORDER.get(kind, _LAST_RANK) if isinstance(kind, str) else _LAST_RANK


def _lines(notification: PendingNotification) -> tuple[str, ...]:
    """A change's lines; a site that opened near the subscriber is named with its distance."""
    if notification.near_site is not None and opened_note(notification.near_site):
        line = site_line(notification.near_site)
        if line:
            return (line,)
    n = notification
    return change_line_tuple(n.kind, n.field, n.before, n.after)


def _change_lines(study: _Study) -> tuple[str, ...]:
    """Merged, deduped lines in kind order; long site lists collapse to a count.

    Results posted come first, then the sites that opened near the subscriber.
    """
    notifications = study.notifications
    if len(notifications) == 1:  # most studies: one line or none, nothing to merge
        lines = _lines(notifications[0])
        if len(lines) <= 1:
            return lines
    ordered = sorted(notifications, key=_by_kind) if len(notifications) > 1 else notifications
    shown: list[str] = []
    seen: set[str] = set()
    shown_sites = hidden_sites = hidden_other = 0
    for notification in ordered:
        kind = notification.kind
        lines = _lines(notification)
        if not lines:
            continue
        is_site = isinstance(kind, str) and kind in SITE_KINDS
        for line in lines:
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


def _matched_by(refs: list[SubscriptionRef]) -> tuple[str, ...]:
    labels: list[str] = []
    seen: set[str] = set()
    for ref in refs:
        label = clean_text(ref.label if ref.label is not None else "", LABEL_LIMIT)
        if label and label.casefold() not in seen:
            seen.add(label.casefold())
            labels.append(label)
    return tuple(labels)


@lru_cache(maxsize=4096)  # condition texts repeat across subscribers
def _search_url(condition: str) -> str:
    return SEARCH_URL + quote(" ".join(condition.split()), safe="")


def _study_url(nct_id: str) -> str:
    # NCT ids are plain letters and digits: nothing to quote.
    if nct_id.isascii() and nct_id.isalnum():
        return STUDY_URL + nct_id
    return STUDY_URL + quote(nct_id, safe="")


def _facts(study: _Study) -> tuple[tuple[str, ...], str | None]:
    """(phase, who can join, nearest site lines; the status verified date) of a study.

    The newest notification's facts speak for the study; the nearest site is
    the nearest any of its notifications noted (the first of equals).
    """
    notifications = study.notifications
    if len(notifications) == 1:  # most studies: the one notification says it all
        only = notifications[0]
        facts = only.facts
        note = only.near_site
        nearest = note if note is not None and _nearest_note(note) else None
    else:
        facts = None
        for notification in reversed(notifications):
            if notification.facts is not None:
                facts = notification.facts
                break
        nearest = None
        nearest_km = 0.0
        for n in notifications:
            note = n.near_site
            if note is not None and _nearest_note(note):
                km = _km(note)
                if nearest is None or km < nearest_km:
                    nearest, nearest_km = note, km
    # A dict (what the sender reads) is answered before the slower Mapping check.
    if facts is not None and (type(facts) is dict or isinstance(facts, Mapping)):
        phase, who = study_lines(facts)
        verified = facts.get("status_verified")
        if not isinstance(verified, str):
            verified = None
    else:
        phase = who = ""
        verified = None
    site = site_line(nearest) if nearest is not None else ""
    if phase and who and not site:  # the usual lines: no filtering needed
        return (phase, who), verified
    return tuple(filter(None, (phase, who, site))), verified


def _nearest_note(note: Any) -> bool:
    """Whether a site note names the nearest site (rather than one that opened)."""
    return isinstance(note, Mapping) and not opened_note(note)


def _km(note: Mapping[str, Any]) -> float:
    km = note.get("km")
    return float(km) if type(km) in (int, float) else float("inf")


def _item(study: _Study) -> DigestItem:
    newest = study.notifications[-1]
    status = newest.status  # most often the newest says it: _latest_text looks further back
    if type(status) is not str or not status:
        status = _latest_text(study, "status")
    title = newest.title
    if type(title) is not str or not title:
        title = _latest_text(study, "title")
    nct_id = study.nct_id
    facts, verified = _facts(study)
    # Every field, in DigestItem's order, straight into the tuple (see `new_tuple`).
    return new_tuple(
        DigestItem,
        (
            nct_id,
            title or nct_id,
            status_label(status),
            _study_url(nct_id),
            study.is_new,
            _change_lines(study),
            study.matched_by,
            status_note(status),
            facts,
            study.site_opened,
            verified,
        ),
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


def _condition_heading(label: str, members: list[_Study]) -> str:
    """ "New studies for lung cancer", or new sites near you when that is what some are."""
    opened = sum(1 for study in members if study.site_opened)
    if not opened:
        return f"New studies for {label}"
    if opened == len(members):
        return f"New sites near you for {label}"
    return f"New studies and sites near you for {label}"


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
        shown = tuple(map(_item, ordered[:room]))
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
                    _condition_heading(clean_text(label, LABEL_LIMIT), members),
                    (home.id,),
                    shown,
                    len(ordered) - len(shown),
                    _search_url(label),
                )
            )
    return Digest(
        frequency=frequency,
        sections=tuple(sections),
        item_count=sum(len(section.items) for section in sections),
        total_count=len(studies),
        notification_ids=_sorted_ids({n.id for n in notifications}),
        new_count=sum(map(_IS_NEW, studies)),
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
