"""Who can join a study, and what kind of study it is: the eligibility and design filters.

A subscription may say who the subscriber is (age in whole years, sex,
healthy volunteer) and which studies they want (phases, study types).  Each
filter holds when the study says nothing about it: a record without
eligibility data passes, and the digest says "eligibility not stated"
(`eligibility_stated`).

Ages.  The registry writes ages as text: "18 Years", "6 Months", "2 Weeks",
"3 Days", "12 Hours", "30 Minutes", "N/A" or nothing.  They are compared in
days (a year is 365.25 days, a month a twelfth of that), and a bound covers
its whole unit, as the registry means it: "maximumAge 17 Years" takes a
person up to the day before their 18th birthday, "6 Months" up to the day
before 7 months.  A subscriber's age in whole years is likewise the span
from that birthday to the next, and the study accepts them when its age
range and that span overlap: they can join now or later that year.  For
bounds in years this is exactly minimumAge <= age <= maximumAge.  A minimum
past the maximum (a wrong record: nobody could join) says nothing of ages,
rather than hiding the study from everyone who gave theirs.

Phases.  A phases filter keeps studies listing one of the phases asked.  A
study listing no phase (observational studies, some device trials) has no
phase to which one applies: it counts as `NA` ("not applicable"), as
the registry writes for interventional studies without phases.  A summary
stored before phases were recorded (no `phases` key) is not known and passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

SEXES = ("female", "male")  # what a subscriber may say
PHASES = ("EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4", "NA")
STUDY_TYPES = ("INTERVENTIONAL", "OBSERVATIONAL", "EXPANDED_ACCESS")
MAX_AGE_YEARS = 120
NO_UPPER_AGE = 1_000_000  # whole years: the oldest age a study without a maximum takes
NO_PHASE = "NA"

_MINUTES_PER_DAY = 1440
_MINUTES = {  # whole minutes per unit, so every conversion is one exact division
    "year": 525_960,  # 365.25 days
    "month": 43_830,  # a twelfth of a year
    "week": 10_080,
    "day": 1440,
    "hour": 60,
    "minute": 1,
}
_AGE = re.compile(r"\s*(\d{1,6})\s*(year|month|week|day|hour|minute)s?\s*", re.IGNORECASE)


class AgeSpan(NamedTuple):
    """The ages, in days, from `start` up to but not including `end`."""

    start: float
    end: float


def _age_minutes(text: object) -> tuple[int, int] | None:
    """The span a registry age names, in whole minutes: exact, whatever the unit."""
    return _text_age_minutes(text) if isinstance(text, str) else None


@lru_cache(maxsize=1024)
def _text_age_minutes(text: str) -> tuple[int, int] | None:
    """Cached: registry ages are a few hundred texts ("18 Years"), read for every study."""
    found = _AGE.fullmatch(text)
    if found is None:
        return None
    number, minutes = int(found.group(1)), _MINUTES[found.group(2).lower()]
    return number * minutes, (number + 1) * minutes


def parse_age(text: object) -> AgeSpan | None:
    """The span a registry age names ("17 Years": 17 years up to 18), or None when not stated.

    "N/A", empty, absent and anything unreadable are not stated.
    """
    span = _age_minutes(text)
    if span is None:
        return None
    return AgeSpan(span[0] / _MINUTES_PER_DAY, span[1] / _MINUTES_PER_DAY)


def years_span(age: int) -> AgeSpan:
    """A person's age in whole years as days: from that birthday to the next."""
    minutes = _MINUTES["year"]
    return AgeSpan(age * minutes / _MINUTES_PER_DAY, (age + 1) * minutes / _MINUTES_PER_DAY)


@dataclass(frozen=True, slots=True)
class StudyEligibility:
    """What the filters read of one study, parsed once; None: the study does not say.

    `youngest` and `oldest` are the whole-year ages whose year overlaps the
    study's age range (the module's rule), worked out once so that the check
    per subscription is two integer comparisons (0 and NO_UPPER_AGE when the
    study states no bound).
    """

    min_days: float | None
    max_end_days: float | None  # the first age (days) past maximumAge
    youngest: int
    oldest: int
    sexes: frozenset[str] | None  # lower-case sexes the study takes
    healthy_volunteers: bool | None
    phases: frozenset[str] | None
    study_type: str | None


# The registry's eligibility sex → the sexes a study takes (anything else: not stated).
_SEXES_TAKEN = {
    "ALL": frozenset(SEXES),
    "FEMALE": frozenset({"female"}),
    "MALE": frozenset({"male"}),
}


def _text(value: Any) -> str:
    return value.strip().upper() if isinstance(value, str) else ""


def contradictory_ages(minimum: object, maximum: object) -> bool:
    """Whether a registry minimumAge lies past its maximumAge, so that nobody could join."""
    low, high = _age_minutes(minimum), _age_minutes(maximum)
    return low is not None and high is not None and low[0] >= high[1]


def study_eligibility(summary: Mapping[str, Any]) -> StudyEligibility:
    """The study's eligibility and design, as the filters compare them.

    Records repeat a few combinations of these fields, and matching reads
    them for each study a filter asks about (an update and its previous
    snapshot alike): each combination is worked out once.
    """
    eligibility = summary.get("eligibility")
    eligibility = eligibility if isinstance(eligibility, Mapping) else {}
    phases = summary.get("phases")
    fields = (
        eligibility.get("minimumAge"),
        eligibility.get("maximumAge"),
        eligibility.get("sex"),
        eligibility.get("healthyVolunteers"),
        tuple(phases) if isinstance(phases, list) else None,
        summary.get("study_type"),
    )
    try:
        return _known_eligibility(*fields)
    except TypeError:  # a value no key can hold (not a registry one): read it as it is
        return _eligibility(*fields)


def _eligibility(
    minimum: Any,
    maximum: Any,
    sex: Any,
    healthy: Any,
    phases: tuple[Any, ...] | None,
    study_type: Any,
) -> StudyEligibility:
    if contradictory_ages(minimum, maximum):
        minimum = maximum = None
    low, high = _age_minutes(minimum), _age_minutes(maximum)
    year = _MINUTES["year"]
    listed = frozenset(map(_text, phases)) - {""} if phases is not None else None
    return StudyEligibility(
        min_days=low[0] / _MINUTES_PER_DAY if low else None,
        max_end_days=high[1] / _MINUTES_PER_DAY if high else None,
        # A person of age A spans [A, A + 1) years: the first A whose year ends
        # after the minimum starts, and the last A whose year starts before the
        # maximum's unit ends.
        youngest=low[0] // year if low else 0,
        oldest=(high[1] - 1) // year if high else NO_UPPER_AGE,
        sexes=_SEXES_TAKEN.get(_text(sex)),
        healthy_volunteers=healthy if isinstance(healthy, bool) else None,
        phases=None if listed is None else listed or frozenset({NO_PHASE}),
        study_type=_text(study_type) or None,
    )


# typed: True and 1 are different answers to healthyVolunteers.
_known_eligibility = lru_cache(maxsize=4096, typed=True)(_eligibility)


def eligibility_stated(summary: Mapping[str, Any]) -> bool:
    """Whether the study says anything of who can join: an age bound, a sex, healthy volunteers."""
    study = study_eligibility(summary)
    return not (
        study.min_days is None
        and study.max_end_days is None
        and study.sexes is None
        and study.healthy_volunteers is None
    )


class EligibilityAsk(Protocol):
    """What a subscription asks (worker.matching.conditions.Filters); None or empty: anything."""

    @property
    def age(self) -> int | None: ...
    @property
    def sex(self) -> str | None: ...
    @property
    def healthy_volunteers(self) -> bool | None: ...
    @property
    def phases(self) -> Collection[str]: ...
    @property
    def study_types(self) -> Collection[str]: ...


def takes_age(study: StudyEligibility, age: int | None) -> bool:
    """Whether the study takes a person of `age` whole years (None: no age asked)."""
    return age is None or study.youngest <= age <= study.oldest


def _age_ok(ask: EligibilityAsk, study: StudyEligibility) -> bool:
    return takes_age(study, ask.age)


def _sex_ok(ask: EligibilityAsk, study: StudyEligibility) -> bool:
    return ask.sex is None or study.sexes is None or ask.sex in study.sexes


def _healthy_ok(ask: EligibilityAsk, study: StudyEligibility) -> bool:
    return not ask.healthy_volunteers or study.healthy_volunteers is not False


def _phases_ok(ask: EligibilityAsk, study: StudyEligibility) -> bool:
    return not ask.phases or study.phases is None or not study.phases.isdisjoint(ask.phases)


def _study_type_ok(ask: EligibilityAsk, study: StudyEligibility) -> bool:
    return not ask.study_types or study.study_type is None or study.study_type in ask.study_types


# Each filter by the name it has in subscription files, cheapest and most selective first.
CHECKS: tuple[tuple[str, Callable[[EligibilityAsk, StudyEligibility], bool]], ...] = (
    ("sex", _sex_ok),
    ("age", _age_ok),
    ("healthy_volunteers", _healthy_ok),
    ("study_types", _study_type_ok),
    ("phases", _phases_ok),
)


def accepts(ask: EligibilityAsk, study: StudyEligibility) -> bool:
    """Whether every eligibility and design filter the subscription sets holds for the study.

    The checks of CHECKS, in its order, written out: this is the hot path.
    """
    return (
        _sex_ok(ask, study)
        and _age_ok(ask, study)
        and _healthy_ok(ask, study)
        and _study_type_ok(ask, study)
        and _phases_ok(ask, study)
    )


def refused_by(ask: EligibilityAsk, study: StudyEligibility) -> list[str]:
    """The names of the filters the study fails (empty: it passes them all)."""
    return [name for name, check in CHECKS if not check(ask, study)]
