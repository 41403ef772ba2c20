"""Subscription rows: the one gate every subscription passes through.

`parse_row` validates a subscription given as field name -> value and returns
it in one normal form. CSV and JSONL imports and the public sign-up form all
go through it, so a value accepted in one place is accepted everywhere and two
spellings of the same subscription compare equal (and export round-trips).
Reading and writing whole files lives in `worker.subscriptions.files`.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import email_validator

from worker.core.cadence import DEFAULT_FREQUENCY, DEFAULT_TIMEZONE, FREQUENCIES
from worker.core.quoting import json_type, show_value
from worker.matching.concepts import normalize_term
from worker.matching.criteria import NO_MEANINGFUL_WORDS
from worker.matching.eligibility import MAX_AGE_YEARS, PHASES, SEXES, STUDY_TYPES
from worker.subscriptions.free_text import disease_name, has_invisible
from worker.subscriptions.places import Near, parse_near, point_near

# Also the CSV header order of exports.
FIELDS = (
    "email",
    "kind",
    "condition",
    "nct_id",
    "frequency",
    "statuses",
    "countries",
    "near",
    "timezone",
    "age",
    "sex",
    "healthy_volunteers",
    "phases",
    "study_types",
)
# Who the subscriber is and which studies they want: condition alerts only.
ELIGIBILITY_FIELDS = ("age", "sex", "healthy_volunteers", "phases", "study_types")
REQUIRED_COLUMNS = ("email", "kind")
KINDS = ("condition", "study")
# ClinicalTrials.gov API v2 overallStatus values.
OVERALL_STATUSES = frozenset(
    [
        "ACTIVE_NOT_RECRUITING",
        "COMPLETED",
        "ENROLLING_BY_INVITATION",
        "NOT_YET_RECRUITING",
        "RECRUITING",
        "SUSPENDED",
        "TERMINATED",
        "WITHDRAWN",
        "AVAILABLE",
        "NO_LONGER_AVAILABLE",
        "TEMPORARILY_NOT_AVAILABLE",
        "APPROVED_FOR_MARKETING",
        "WITHHELD",
        "UNKNOWN",
    ]
)
NON_ASCII_MAILBOX = (
    "letters outside ASCII before the @ cannot be delivered here; "
    "please use an address written in ASCII (a-z, 0-9 and . _ + -)"
)

_NCT_ID = re.compile(r"NCT[0-9]{8}")
_STATUS_SEPARATORS = re.compile(r"[\s\-]+")
_AGE = re.compile(r"[0-9]{1,3}")
_SEPARATORS = re.compile(r"[\s_\-]+")


@dataclass(frozen=True)
class SubscriptionRow:
    """One subscription in normal form, as imported, exported or signed up."""

    email: str
    kind: str
    condition: str | None
    nct_id: str | None
    frequency: str
    statuses: tuple[str, ...]
    countries: tuple[str, ...]
    near: tuple[float, float, float] | None
    timezone: str
    age: int | None = None
    sex: str | None = None
    healthy_volunteers: bool | None = None  # True, or None: not asked
    phases: tuple[str, ...] = ()
    study_types: tuple[str, ...] = ()
    near_place: str | None = None  # the place `near` was given as ("Milan, Italy"), if one

    def filter_columns(self) -> dict[str, object]:
        """The subscriptions table's columns for this row's filters (empty lists: None)."""
        lat, lon, km = self.near if self.near is not None else (None, None, None)
        return {
            "statuses": list(self.statuses),
            "countries": list(self.countries),
            "near_lat": lat,
            "near_lon": lon,
            "near_km": km,
            "near_place": self.near_place,
            "age": self.age,
            "sex": self.sex,
            "healthy_volunteers": self.healthy_volunteers,
            "phases": list(self.phases) or None,
            "study_types": list(self.study_types) or None,
        }

    def identity(self) -> tuple[object, ...]:
        """What makes two rows the same subscription.

        Frequency and timezone are settings of a subscription, not part of
        what it is: re-importing a row with a new frequency updates it.
        The filters are part of it: the same condition for another age is
        another alert, so re-importing a row with a changed filter adds a
        subscription beside the old one (remove the subscriber first to
        replace theirs).  The eligibility filters are named only when one is
        given, so the identities stored before they existed still hold.
        A near given as a place is that place and distance, so an export
        imported again finds its subscriptions even if a newer gazetteer
        moved the place's point a little.
        """
        target = self.condition.casefold() if self.condition is not None else self.nct_id
        countries = tuple(country.casefold() for country in self.countries)
        near: object = self.near
        if self.near_place is not None and self.near is not None:
            near = (self.near_place, self.near[2])
        identity: tuple[object, ...] = (
            self.email,
            self.kind,
            target,
            self.statuses,
            countries,
            near,
        )
        eligibility = (
            self.age,
            self.sex,
            self.healthy_volunteers,
            self.phases,
            self.study_types,
        )
        if eligibility != (None, None, None, (), ()):
            identity += (eligibility,)
        return identity


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a row: the field it is about (None: the row's) and why."""

    field: str | None
    reason: str
    shown: str | None = None  # what the message leads with, e.g. "age '200'" (None: the field)

    def __str__(self) -> str:
        head = self.field if self.shown is None else self.shown
        return f"{head}: {self.reason}" if head else self.reason


class RowRejected(ValueError):
    """parse_row's refusal: every problem, so a form can show each beside its input."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = tuple(problems)


def parse_row(fields: Mapping[str, object]) -> SubscriptionRow:
    """Validate one subscription; raise ValueError naming every bad field.

    Field names are case-insensitive and trimmed. None, and text that is empty
    after trimming, mean "not given". An unknown name is an error rather than
    ignored, so a typo such as "frequncy" cannot silently fall back to the
    default: callers with extra keys (a web form's token) pass only the fields.
    """
    errors: list[Problem] = []
    given = _given_fields(fields, errors)

    def field(name: str, parse: Callable[[object], Any], default: Any = None) -> Any:
        raw = given.get(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            errors.append(Problem(name, str(exc), f"{name} {show_value(raw)}"))
            return default

    for name in REQUIRED_COLUMNS:
        if name not in given:
            errors.append(Problem(name, "required"))
    email = field("email", _email)
    kind = field("kind", lambda raw: _choice(raw, KINDS))
    condition: str | None = None
    nct_id: str | None = None
    if kind == "condition":
        condition = field("condition", _condition)
        _require(given, errors, "condition", kind)
        _forbid(given, errors, "nct_id", kind)
    elif kind == "study":
        nct_id = field("nct_id", _nct_id)
        _require(given, errors, "nct_id", kind)
        _forbid(given, errors, "condition", kind)
        for name in ELIGIBILITY_FIELDS:
            _forbid(given, errors, name, kind)
    frequency = field("frequency", lambda raw: _choice(raw, FREQUENCIES), DEFAULT_FREQUENCY)
    statuses = field("statuses", _statuses, ())
    countries = field("countries", _countries, ())
    near_given: Near | None = field("near", _near)
    near = None if near_given is None else (near_given.lat, near_given.lon, near_given.km)
    timezone = field("timezone", timezone_name, DEFAULT_TIMEZONE)
    age = field("age", _age)
    sex = field("sex", lambda raw: _choice(raw, SEXES))
    healthy_volunteers = field("healthy_volunteers", _healthy_volunteers)
    phases = field("phases", lambda raw: _registry_values(raw, "phase", PHASES), ())
    study_types = field(
        "study_types", lambda raw: _registry_values(raw, "study type", STUDY_TYPES), ()
    )
    if errors:
        raise RowRejected(errors)
    return SubscriptionRow(
        email,
        kind,
        condition,
        nct_id,
        frequency,
        statuses,
        countries,
        near,
        timezone,
        age,
        sex,
        healthy_volunteers,
        phases,
        study_types,
        near_given.place if near_given is not None else None,
    )


# -- fields ------------------------------------------------------------------


def _given_fields(fields: Mapping[str, object], errors: list[Problem]) -> dict[str, object]:
    """The fields actually given, by normalized name; bad names go to errors."""
    given: dict[str, object] = {}
    seen: set[str] = set()
    for key, value in fields.items():
        name = str(key).strip().lower()
        if name not in FIELDS:
            unknown = f"unknown field {show_value(key)}; expected some of {', '.join(FIELDS)}"
            errors.append(Problem(None, unknown))
        elif name in seen:
            errors.append(Problem(name, f"field {name!r} given twice", shown=""))
        elif value is not None and not (isinstance(value, str) and not value.strip()):
            given[name] = value
        seen.add(name)
    return given


def _require(given: Mapping[str, object], errors: list[Problem], name: str, kind: object) -> None:
    if name not in given:
        errors.append(Problem(name, f"required for kind {kind!r}"))


def _forbid(given: Mapping[str, object], errors: list[Problem], name: str, kind: object) -> None:
    if name in given and given[name] != []:  # JSONL exports write empty lists as []
        shown = f"{name} {show_value(given[name])}"
        errors.append(Problem(name, f"must be empty for kind {kind!r}", shown))


def _text(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"expected text, got {json_type(raw)}")
    return raw.strip()


def _choice(raw: object, choices: tuple[str, ...]) -> str:
    value = _text(raw).lower()
    if value not in choices:
        raise ValueError(f"expected one of {', '.join(choices)}")
    return choices[choices.index(value)]  # the shared constant, not a fresh copy per row


def _email(raw: object) -> str:
    return normalize_email(_text(raw))


def normalize_email(text: str) -> str:
    """The one address rule of imports, sign-ups and suppressions; ValueError says why not.

    An address is stored lower-cased and all ASCII, as mail systems (SES
    without SMTPUTF8 among them) can deliver it: an internationalized domain
    is kept in its IDNA form (ada@xn--bcher-kva.de for ada@bücher.de, one
    subscriber however it was typed); a mailbox name with letters outside
    ASCII is refused here, at the door, rather than failing at send time.
    """
    normalized, reason = _validated_email(text.strip())
    if reason:
        raise ValueError(reason)
    return normalized


@lru_cache(maxsize=65_536)
def _validated_email(address: str) -> tuple[str, str]:
    """(normalized address, "") or ("", why not); cached since files repeat addresses."""
    try:
        info = email_validator.validate_email(
            address, check_deliverability=False, allow_smtputf8=False
        )
    except email_validator.EmailNotValidError as exc:
        if "@" in address and not address.partition("@")[0].isascii():
            return "", NON_ASCII_MAILBOX
        return "", str(exc)
    return (info.ascii_email or info.normalized).lower(), ""


def _condition(raw: object) -> str:
    """A disease name that matching can use: some word of it is more than a stop word."""
    name = disease_name(_text(raw))
    if not normalize_term(name):
        raise ValueError(NO_MEANINGFUL_WORDS)
    return name


def _nct_id(raw: object) -> str:
    value = _text(raw).upper()
    if not _NCT_ID.fullmatch(value):
        raise ValueError("expected NCT followed by 8 digits, e.g. NCT07635641")
    return value


def _statuses(raw: object) -> tuple[str, ...]:
    statuses = set()
    for item in _list_items(raw):
        status = _STATUS_SEPARATORS.sub("_", item).upper()
        if status not in OVERALL_STATUSES:
            known = ", ".join(sorted(OVERALL_STATUSES))
            raise ValueError(f"unknown status {show_value(item)}; expected some of {known}")
        statuses.add(status)
    return tuple(sorted(statuses))


def _age(raw: object) -> int:
    """Whole years, as a JSON number or as digits."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        age = raw
    elif isinstance(raw, str) and _AGE.fullmatch(raw.strip()):
        age = int(raw.strip())
    else:
        raise ValueError(f"expected whole years from 0 to {MAX_AGE_YEARS}, e.g. 42")
    if not 0 <= age <= MAX_AGE_YEARS:
        raise ValueError(f"expected whole years from 0 to {MAX_AGE_YEARS}")
    return age


def _healthy_volunteers(raw: object) -> bool | None:
    """True: only studies that take healthy volunteers; false means not asked (None)."""
    value = raw if isinstance(raw, bool) else _text(raw).lower()
    if value in (True, "true"):
        return True
    if value in (False, "false"):
        return None
    raise ValueError("expected true or false")


def _registry_values(raw: object, what: str, known: tuple[str, ...]) -> tuple[str, ...]:
    """Registry values of a ";"-list, spelt loosely ("Phase 2", "early_phase1"), in their order."""
    by_key = {_SEPARATORS.sub("", value): value for value in known}
    values = set()
    for item in _list_items(raw):
        value = by_key.get(_SEPARATORS.sub("", item).upper())
        if value is None:
            raise ValueError(
                f"unknown {what} {show_value(item)}; expected some of {', '.join(known)}"
            )
        values.add(value)
    return tuple(sorted(values, key=known.index))


def _countries(raw: object) -> tuple[str, ...]:
    names = _list_items(raw)
    for name in names:
        if has_invisible(name):
            raise ValueError(f"country {show_value(name)} contains invisible or control characters")
    first_spelling: dict[str, str] = {}
    for name in sorted(names, key=lambda name: (name.casefold(), name)):
        first_spelling.setdefault(name.casefold(), name)
    return tuple(first_spelling.values())


def _list_items(raw: object) -> list[str]:
    """The non-empty trimmed items of a ";"-list or of a JSON array of strings."""
    if isinstance(raw, str):
        items = raw.split(";")
    elif isinstance(raw, list):
        items = []
        for item in raw:
            if not isinstance(item, str):
                raise ValueError(f"expected an array of strings, found {json_type(item)}")
            if ";" in item:
                raise ValueError(f"item {show_value(item)} contains ';'")
            items.append(item)
    else:
        raise ValueError(f"expected a ';'-separated list, got {json_type(raw)}")
    return [item.strip() for item in items if item.strip()]


def _near(raw: object) -> Near:
    """`lat,lon,km` or `PLACE;KM` (worker.subscriptions.places), or a JSON {lat, lon, km}."""
    if isinstance(raw, str):
        return parse_near(raw)
    if isinstance(raw, Mapping):
        if set(raw) != {"lat", "lon", "km"}:
            raise ValueError("expected an object with exactly the keys lat, lon, km")
        lat, lon, km = (_number(raw[key]) for key in ("lat", "lon", "km"))
        return point_near(lat, lon, km)
    raise ValueError(f"expected 'lat,lon,km', 'PLACE;KM' or {{lat, lon, km}}, got {json_type(raw)}")


def _number(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"expected numbers for lat, lon, km, got {json_type(raw)}")
    try:
        return float(raw)
    except OverflowError:
        raise ValueError("number too large") from None


def timezone_name(raw: object) -> str:
    """The IANA time zone `raw` names, in its proper spelling; ValueError otherwise."""
    name = _zone_names().get(_text(raw).casefold())
    if name is None:
        raise ValueError("not an IANA time zone name, e.g. Europe/Rome or UTC")
    return name


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    """Case-folded IANA name -> its proper spelling ("localtime" is host-specific)."""
    names = (zoneinfo.available_timezones() | {DEFAULT_TIMEZONE}) - {"localtime"}
    return {name.casefold(): name for name in sorted(names)}
