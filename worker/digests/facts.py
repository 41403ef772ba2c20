"""What a patient needs to know of a study to act on it, in plain words.

The phase as a question the study answers, who can join (age range, sex,
healthy volunteers), the site near them with its distance, and whether the
recruitment status is still vouched for.  Inputs are the few summary keys a
digest reads (`phases`, `study_type`, `eligibility`, `status_verified`; see
worker/ingest/studies.py); summaries stored before a key existed lack it, and
then nothing is said rather than something wrong.  Like labels.py, nothing
here raises on odd data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any

from worker.digests.labels import clean_text
from worker.matching.eligibility import contradictory_ages, eligibility_stated, parse_age
from worker.matching.nearby import NEAREST, OPENED, RECRUITING
from worker.subscriptions.views import PHASE_LABELS

# What each phase asks (the single phases' words live with the subscription
# views, which offer them as choices), and the phases registries list together.
PHASE_WORDS = {
    **{(phase,): words for phase, words in PHASE_LABELS.items()},
    ("PHASE1", "PHASE2"): "Phase 1/2: is it safe, at what dose, and does it work",
    ("PHASE2", "PHASE3"): "Phase 2/3: does it work, and better than the usual treatment",
}
# Studies of these types list no phase.
STUDY_TYPE_WORDS = {
    "OBSERVATIONAL": "Observational study: researchers follow people; no treatment is assigned",
    "EXPANDED_ACCESS": "Expanded access: an experimental treatment offered outside a trial",
}
NOT_STATED = "Who can join: eligibility not stated"
STALE_AFTER_MONTHS = 12
KM_PER_MILE = 1.609344
_AGE_PARTS = re.compile(r"\s*(\d+)\s*([A-Za-z]+?)s?\s*")
_VERIFIED = re.compile(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")
_PLACE_LIMIT = 160


def phase_words(facts: Mapping[str, Any]) -> str:
    """ "Phase 2: does it work, is it safe"; the study type when it has no phase; else ""."""
    phases = facts.get("phases")
    if isinstance(phases, list) and phases:
        key = tuple(sorted(str(phase).strip().upper() for phase in phases))
        known = PHASE_WORDS.get(key)
        if known is not None:
            return known
        names = ", ".join(clean_text(phase, 20).replace("_", " ").title() for phase in key)
        return clean_text(f"Phases: {names}")
    study_type = facts.get("study_type")
    return STUDY_TYPE_WORDS.get(study_type, "") if isinstance(study_type, str) else ""


def _age(text: Any) -> tuple[int, str] | None:
    """(number, unit) of a registry age ("18 Years" → (18, "year")), None when not stated."""
    if parse_age(text) is None:
        return None
    found = _AGE_PARTS.fullmatch(text)
    return (int(found.group(1)), found.group(2).lower()) if found else None


def _span(age: tuple[int, str], years_implied: bool) -> str:
    number, unit = age
    if unit == "year" and years_implied:
        return str(number)
    return f"{number} {unit}{'' if number == 1 else 's'}"


def age_range(eligibility: Mapping[str, Any]) -> str:
    """ "aged 18 to 64", "aged 18 and over", "aged 17 and under", "aged 6 months to 17 years"."""
    minimum, maximum = eligibility.get("minimumAge"), eligibility.get("maximumAge")
    if contradictory_ages(minimum, maximum):
        return "any age"  # as the filters read it: such a record says nothing of ages
    low, high = _age(minimum), _age(maximum)
    if low and high:
        in_years = low[1] == high[1] == "year"
        return f"aged {_span(low, in_years)} to {_span(high, in_years)}"
    if low:
        return f"aged {_span(low, True)} and over"
    if high:
        return f"aged {_span(high, True)} and under"
    return "any age"


_SEX_WORDS = {"ALL": "all sexes", "FEMALE": "female only", "MALE": "male only"}


def who_can_join(facts: Mapping[str, Any]) -> str:
    """ "Who can join: aged 18 to 64 · all sexes · healthy volunteers accepted"."""
    eligibility = facts.get("eligibility")
    if not isinstance(eligibility, Mapping) or not eligibility_stated(facts):
        return NOT_STATED
    parts = [age_range(eligibility)]
    sex = eligibility.get("sex")
    if isinstance(sex, str) and sex.strip().upper() in _SEX_WORDS:
        parts.append(_SEX_WORDS[sex.strip().upper()])
    healthy = eligibility.get("healthyVolunteers")
    if isinstance(healthy, bool):
        parts.append("healthy volunteers accepted" if healthy else "no healthy volunteers")
    return "Who can join: " + " · ".join(parts)


_ELIGIBILITY_KEYS = ("minimumAge", "maximumAge", "sex", "healthyVolunteers")
_PLAIN = frozenset({str, bool, type(None)})  # JSON scalars equal only to themselves


def study_lines(facts: Mapping[str, Any]) -> tuple[str, str]:
    """(`phase_words`, `who_can_join`) of a study's facts.

    The same studies recur in many digests of a run, so the two lines are
    kept per distinct value of what they read: the phases, the study type,
    and the eligibility's ages, sex and healthy volunteers (a test holds the
    kept lines equal to fresh ones for every real record).  Facts holding
    anything but strings, booleans and None there are worded afresh (1 == True
    would share an entry).
    """
    phases = facts.get("phases")
    phases = tuple(phases) if isinstance(phases, list) else None
    study_type = facts.get("study_type")
    eligibility = facts.get("eligibility")
    # A dict (what the sender reads) is answered before the slower Mapping check.
    if type(eligibility) is dict or isinstance(eligibility, Mapping):
        asked = tuple(map(eligibility.get, _ELIGIBILITY_KEYS))
        plain = _PLAIN.issuperset(map(type, asked))
    else:
        asked, plain = None, True
    if plain and (phases is None or _PLAIN.issuperset(map(type, phases))):
        return _lines_of(phases, study_type if isinstance(study_type, str) else None, asked)
    return phase_words(facts), who_can_join(facts)


@lru_cache(maxsize=4096)
def _lines_of(
    phases: tuple[str, ...] | None, study_type: str | None, asked: tuple[Any, ...] | None
) -> tuple[str, str]:
    """The lines of the facts that `study_lines` keyed, rebuilt from the key."""
    facts = {
        "phases": None if phases is None else list(phases),
        "study_type": study_type,
        "eligibility": None if asked is None else dict(zip(_ELIGIBILITY_KEYS, asked, strict=True)),
    }
    return phase_words(facts), who_can_join(facts)


def months_since(verified: Any, today: date) -> int | None:
    """Whole months from a registry date ("2024-03" or "2024-03-15") to today; None if unreadable.

    A month is whole once today's day of the month reaches the date's:
    2024-02-29 to 2025-02-28 is 11 months.  A month-only date counts from the
    1st, a year-only one from 1 January.  A date after today is None.
    """
    found = _VERIFIED.fullmatch(verified) if isinstance(verified, str) else None
    if found is None:
        return None
    year, month, day = (int(part) if part else 1 for part in found.groups())
    if not 1 <= month <= 12:
        return None
    months = (today.year - year) * 12 + today.month - month - (today.day < day)
    return months if months >= 0 else None


def stale_status(verified: Any, today: date) -> str:
    """ "Status last verified 26 months ago: it may not be current", or "" when fresh or unknown."""
    return _stale_status(verified, today) if isinstance(verified, str) else ""


@lru_cache(maxsize=1024)  # a run's digests share one day and a few hundred verified dates
def _stale_status(verified: str, today: date) -> str:
    months = months_since(verified, today)
    if months is None or months <= STALE_AFTER_MONTHS:
        return ""
    return f"Status last verified {months} months ago: it may not be current"


def distance(km: float) -> str:
    """ "2.1 km (1.3 mi)" below 10 km, "87 km (54 mi)" from there."""
    miles = km / KM_PER_MILE
    if km < 10:
        return f"{km:.1f} km ({miles:.1f} mi)"
    return f"{km:.0f} km ({miles:.0f} mi)"


def _place(note: Mapping[str, Any]) -> str:
    parts = [note.get(key) for key in ("facility", "city", "country")]
    return clean_text(", ".join(p for p in parts if isinstance(p, str) and p), _PLACE_LIMIT)


_NOTE_WORDS = {
    OPENED: "A site opened near you",
    RECRUITING: "A site near you started recruiting",
    NEAREST: "Nearest site",
}
SITE_LINE_STARTS = tuple(f"{words}: " for words in _NOTE_WORDS.values())
_OPENINGS = frozenset({OPENED, RECRUITING})


def site_line(note: Any) -> str:
    """ "A site opened near you: Hospital del Mar, Barcelona, Spain, 2.1 km (1.3 mi)"; else ""."""
    if not isinstance(note, Mapping) or note.get("why") not in _NOTE_WORDS:
        return ""
    km = note.get("km")
    if type(km) not in (int, float) or not 0 <= km < 50_000:
        return ""
    place = _place(note) or "a site"
    return f"{_NOTE_WORDS[note['why']]}: {place}, {distance(float(km))}"


def opened_note(note: Any) -> bool:
    """Whether a notification's site note is "a site opened near you" (rather than the nearest)."""
    # Most notifications have no note: None is answered before the (slower) Mapping check.
    return note is not None and isinstance(note, Mapping) and note.get("why") in _OPENINGS
