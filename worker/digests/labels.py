"""Human wording for study changes and registry codes.

Digests show "Status: Not yet recruiting → Recruiting", not the registry's
enum names. Values come from stored snapshots and upstream events, so any of
them may be missing or of an unexpected type: every formatter falls back to a
generic line rather than raise, and long values are clipped so one odd study
cannot blow the email's size budget. Escaping is left to the templates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from worker.subscriptions.views import PHASE_LABELS, STUDY_TYPE_LABELS

ARROW = "→"
VALUE_LIMIT = 160
NOT_SET = "not set"

STATUS_LABELS = {
    "RECRUITING": "Recruiting",
    "NOT_YET_RECRUITING": "Not yet recruiting",
    "ACTIVE_NOT_RECRUITING": "Active, not recruiting",
    "ENROLLING_BY_INVITATION": "Enrolling by invitation",
    "COMPLETED": "Completed",
    "SUSPENDED": "Suspended",
    "TERMINATED": "Terminated",
    "WITHDRAWN": "Withdrawn",
    "UNKNOWN": "Unknown status",
    "AVAILABLE": "Available",
    "NO_LONGER_AVAILABLE": "No longer available",
    "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available",
    "APPROVED_FOR_MARKETING": "Approved for marketing",
    "WITHHELD": "Withheld",
}

# What a status means for someone who would like to take part.
STATUS_NOTES = {
    "RECRUITING": "looking for participants now",
    "NOT_YET_RECRUITING": "will look for participants soon",
    "ENROLLING_BY_INVITATION": "only people the researchers invite can join",
    "ACTIVE_NOT_RECRUITING": "running, but taking no new participants",
    "COMPLETED": "finished",
    "SUSPENDED": "paused; it may start again",
    "TERMINATED": "stopped early",
    "WITHDRAWN": "stopped before anyone took part",
    "UNKNOWN": "not confirmed by the sponsor for a long time",
    "AVAILABLE": "the treatment can be asked for",
    "NO_LONGER_AVAILABLE": "the treatment can no longer be asked for",
    "TEMPORARILY_NOT_AVAILABLE": "the treatment cannot be asked for at the moment",
}

_CODE_LABELS = {
    "ALL": "All",
    "FEMALE": "Female",
    "MALE": "Male",
    "CHILD": "Child",
    "ADULT": "Adult",
    "OLDER_ADULT": "Older adult",
    "ESTIMATED": "Estimated",
    "ACTUAL": "Actual",
    "ANTICIPATED": "Anticipated",
}

_ELIGIBILITY_FIELDS = {
    "sex": "Sex",
    "minimumAge": "Minimum age",
    "maximumAge": "Maximum age",
    "healthyVolunteers": "Accepts healthy volunteers",
    "stdAges": "Age groups",
}

_DATE_FIELDS = {
    "start": "Start date",
    "primary_completion": "Primary completion date",
    "completion": "Completion date",
}

_SEQUENCES = (list, tuple)  # a tuple, not `list | tuple`: no union object built per call
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def clean_text(value: Any, limit: int = VALUE_LIMIT) -> str:
    """One line of printable text, at most ``limit`` characters."""
    text = value if isinstance(value, str) else str(value)
    # Already one clean line? Printable text has no whitespace but " ", so only
    # runs of spaces or a leading or trailing one would change.
    if (
        len(text) <= limit
        and text.isprintable()
        and "  " not in text
        and (not text or (text[0] != " " and text[-1] != " "))
    ):
        return text
    if len(text) > limit * 4:
        text = text[: limit * 4]
    text = " ".join(text.split())
    if not text.isprintable():
        text = "".join(ch for ch in text if ch.isprintable())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def status_label(status: Any) -> str:
    """ "NOT_YET_RECRUITING" -> "Not yet recruiting"; an unknown code -> its title-cased words."""
    if status is None:
        return ""
    code = status if isinstance(status, str) else str(status)
    known = STATUS_LABELS.get(code)
    if known is not None:
        return known
    return clean_text(code.replace("_", " "), 60).title()


def status_note(status: Any) -> str:
    """ "RECRUITING" -> "looking for participants now"; "" for a code without one."""
    return STATUS_NOTES.get(status, "") if isinstance(status, str) else ""


def _code_label(value: Any) -> str:
    if isinstance(value, str) and value in _CODE_LABELS:
        return _CODE_LABELS[value]
    return clean_text(str(value).replace("_", " "), 60).capitalize()


def _plain(value: Any) -> str:
    """A scalar or list as short text; None and "" read as "not set"."""
    if value is None or value == "" or value == []:
        return NOT_SET
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, _SEQUENCES):
        return clean_text(", ".join(str(item) for item in value))
    return clean_text(value)


def _humanize(name: Any) -> str:
    words = _CAMEL_BOUNDARY.sub(" ", str(name)).replace("_", " ")
    return clean_text(words, 60).capitalize()


def _status(field: Any, before: Any, after: Any) -> list[str]:
    if before in (None, ""):
        return [f"Status: {status_label(after) or NOT_SET}"]
    return [f"Status: {status_label(before)} {ARROW} {status_label(after) or NOT_SET}"]


def _site_added(field: Any, before: Any, after: Any) -> list[str]:
    suffix = f" ({status_label(after)})" if after else ""
    return [f"New site: {clean_text(field)}{suffix}"]


def _site_removed(field: Any, before: Any, after: Any) -> list[str]:
    return [f"Site closed: {clean_text(field)}"]


def _site_status(field: Any, before: Any, after: Any) -> list[str]:
    old = status_label(before) or NOT_SET
    new = status_label(after) or NOT_SET
    return [f"Site {clean_text(field)}: {old} {ARROW} {new}"]


def _eligibility(field: Any, before: Any, after: Any) -> list[str]:
    label = _ELIGIBILITY_FIELDS.get(field) if isinstance(field, str) else None
    if label is None:
        return ["Eligibility criteria changed"]
    if field in ("sex", "stdAges"):
        old, new = _codes(before), _codes(after)
    else:
        old, new = _plain(before), _plain(after)
    return [f"{label}: {old} {ARROW} {new}"]


def _codes(value: Any) -> str:
    if value is None or value == "" or value == []:
        return NOT_SET
    if isinstance(value, _SEQUENCES):
        return clean_text(", ".join(_code_label(item) for item in value))
    return _code_label(value)


def _design(field: Any, before: Any, after: Any) -> list[str]:
    """Phases or study type: "Phase: Phase 2 -> Phase 3" (the phase's name, not its question)."""
    labels = PHASE_LABELS if field == "phases" else STUDY_TYPE_LABELS
    label = "Phase" if field == "phases" else "Study type"

    def named(value: Any) -> str:
        items = value if isinstance(value, _SEQUENCES) else [] if value in (None, "") else [value]
        names = [labels.get(item, _code_label(item)).partition(":")[0] for item in items]
        return clean_text(", ".join(names)) if names else NOT_SET

    return [f"{label}: {named(before)} {ARROW} {named(after)}"]


def _enrollment(field: Any, before: Any, after: Any) -> list[str]:
    if field == "type":
        return [f"Enrollment type: {_codes(before)} {ARROW} {_codes(after)}"]
    return [f"Enrollment: {_plain(before)} {ARROW} {_plain(after)}"]


def _date_value(value: Any) -> str:
    if value is None or value == "":
        return NOT_SET
    if isinstance(value, dict):
        day = value.get("date")
        kind = value.get("type")
        text = clean_text(day) if day else NOT_SET
        return f"{text} ({clean_text(kind, 40).lower()})" if kind else text
    return clean_text(value)


def _dates(field: Any, before: Any, after: Any) -> list[str]:
    label = _DATE_FIELDS.get(field) if isinstance(field, str) else None
    label = label or (f"{_humanize(field)} date" if field else "Date")
    return [f"{label}: {_date_value(before)} {ARROW} {_date_value(after)}"]


def _results_posted(field: Any, before: Any, after: Any) -> list[str]:
    return ["Results posted" if after else "Results no longer posted"]


def _title(field: Any, before: Any, after: Any) -> list[str]:
    return [f"Title: {_plain(before)} {ARROW} {_plain(after)}"]


def _conditions(field: Any, before: Any, after: Any) -> list[str]:
    old = [str(item) for item in before] if isinstance(before, _SEQUENCES) else []
    new = [str(item) for item in after] if isinstance(after, _SEQUENCES) else []
    old_folded = {item.casefold() for item in old}
    new_folded = {item.casefold() for item in new}
    added = [item for item in new if item.casefold() not in old_folded]
    removed = [item for item in old if item.casefold() not in new_folded]
    parts = []
    if added:
        parts.append("added " + clean_text(", ".join(added)))
    if removed:
        parts.append("removed " + clean_text(", ".join(removed)))
    return ["Conditions: " + "; ".join(parts)] if parts else ["Conditions changed"]


def _new_study(field: Any, before: Any, after: Any) -> list[str]:
    return []  # DigestItem.is_new says it


def _removed(field: Any, before: Any, after: Any) -> list[str]:
    return ["Study removed from the registry"]


_Formatter = Callable[[Any, Any, Any], list[str]]

FORMATTERS: dict[str, _Formatter] = {
    "new_study": _new_study,
    "results_posted": _results_posted,
    "removed": _removed,
    "status": _status,
    "title": _title,
    "eligibility": _eligibility,
    "design": _design,
    "enrollment": _enrollment,
    "dates": _dates,
    "conditions": _conditions,
    "site_added": _site_added,
    "site_status": _site_status,
    "site_removed": _site_removed,
}

# The order change lines appear in within one study: what matters most first
# (results posted leads: a follower waits for it), the bulky site lists last.
KIND_ORDER = {kind: rank for rank, kind in enumerate(FORMATTERS)}
SITE_KINDS = frozenset({"site_added", "site_status", "site_removed"})


_GENERIC_LINES = {
    "new_study": "New study",
    "removed": "Study removed from the registry",
    "status": "Status changed",
    "title": "Title changed",
    "results_posted": "Results posted",
    "eligibility": "Eligibility criteria changed",
    "design": "Phase or study type changed",
    "enrollment": "Enrollment changed",
    "dates": "Key dates changed",
    "conditions": "Conditions changed",
    "site_added": "New site",
    "site_status": "Site status changed",
    "site_removed": "Site closed",
}


def generic_line(kind: Any, field: Any) -> str:
    """The fallback for kinds we have no wording for, or data we cannot read."""
    known = _GENERIC_LINES.get(kind) if isinstance(kind, str) else None
    if known is not None:
        return known
    name = field if isinstance(field, str) and field else kind
    if not isinstance(name, str) or not name:
        return "Study details changed"
    return f"{_humanize(name)} changed"


# Values whose equal ones of one type read alike (not floats: -0.0 == 0.0).
_KEPT_TYPES = frozenset({str, int, bool, type(None)})


# Kinds worded without reading their values (a study's headline record): kept per kind.
_VALUELESS_KINDS = frozenset({"new_study", "removed"})


def change_lines(kind: Any, field: Any, before: Any, after: Any) -> list[str]:
    """Human lines for one change; never raises, whatever the values."""
    return list(change_line_tuple(kind, field, before, after))


def change_line_tuple(kind: Any, field: Any, before: Any, after: Any) -> tuple[str, ...]:
    """`change_lines` as a tuple.

    One change reaches every subscriber it matched, so the lines of a change
    made of plain values are kept (per value and type: 1 == True), and so are
    those of a new or removed study, whose values are not read; one with
    lists or mappings (dates, conditions) is worded afresh.
    """
    if _KEPT_TYPES.issuperset((type(kind), type(field), type(before), type(after))):
        return _kept_lines(kind, field, before, after)
    if type(kind) is str and kind in _VALUELESS_KINDS:
        return _kept_lines(kind, None, None, None)
    return tuple(_lines(kind, field, before, after))


@lru_cache(maxsize=16384, typed=True)
def _kept_lines(kind: Any, field: Any, before: Any, after: Any) -> tuple[str, ...]:
    return tuple(_lines(kind, field, before, after))


def _lines(kind: Any, field: Any, before: Any, after: Any) -> list[str]:
    formatter = FORMATTERS.get(kind) if isinstance(kind, str) else None
    if formatter is None:
        return [generic_line(kind, field)]
    try:
        return formatter(field, before, after)
    except Exception:  # odd data from a snapshot must not stop a digest
        return [generic_line(kind, field)]
