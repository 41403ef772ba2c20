"""Admin subscription import/export: row validation, streaming reads, exact round trips."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import CTGOV
from worker.matching.concepts import normalize_term
from worker.matching.eligibility import PHASES, STUDY_TYPES
from worker.subscriptions import places
from worker.subscriptions.files import (
    ImportFileError,
    RowError,
    read_subscription_file,
    write_subscription_file,
)
from worker.subscriptions.free_text import disease_name
from worker.subscriptions.rows import FIELDS, OVERALL_STATUSES, SubscriptionRow, parse_row

# The columns files had before the eligibility filters: such files import as before.
HEADER = "email,kind,condition,nct_id,frequency,statuses,countries,near,timezone"
FULL_HEADER = HEADER + ",age,sex,healthy_volunteers,phases,study_types"


def ctgov_records() -> Iterator[dict[str, Any]]:
    """Every study in the real registry records (search pages hold several)."""
    folder = CTGOV
    for path in sorted(folder.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        yield from document.get("studies", [document])


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def read_all(path: Path) -> list[tuple[int, SubscriptionRow | RowError]]:
    return list(read_subscription_file(path))


def condition_row(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "email": "ada@example.com",
        "kind": "condition",
        "condition": "head and neck cancer",
    }
    fields.update(overrides)
    return fields


def reason_of(fields: Mapping[str, object]) -> str:
    with pytest.raises(ValueError) as caught:
        parse_row(fields)
    return str(caught.value)


# -- parse_row: normal form ----------------------------------------------------


def test_a_condition_row_is_stored_in_normal_form() -> None:
    row = parse_row(
        {
            "email": "  Ada.Lovelace@Example.COM ",
            "kind": " Condition ",
            "condition": "  Head   and\tNeck Cancer ",
            "frequency": "Weekly",
            "statuses": " recruiting ; Not yet recruiting;RECRUITING;",
            "countries": " Italy ; united states;Italy;Korea, Republic of",
            "near": "45.38, 9.16, 50",
            "timezone": "europe/rome",
        }
    )
    assert row == SubscriptionRow(
        email="ada.lovelace@example.com",
        kind="condition",
        condition="Head and Neck Cancer",
        nct_id=None,
        frequency="weekly",
        statuses=("NOT_YET_RECRUITING", "RECRUITING"),
        countries=("Italy", "Korea, Republic of", "united states"),
        near=(45.38, 9.16, 50.0),
        timezone="Europe/Rome",
    )


def test_unspecified_fields_take_their_defaults() -> None:
    row = parse_row({"email": "ada@example.com", "kind": "study", "nct_id": "NCT07635641"})
    assert (row.condition, row.frequency, row.statuses, row.countries, row.near, row.timezone) == (
        None,
        "daily",
        (),
        (),
        None,
        "UTC",
    )


def test_empty_strings_and_none_mean_not_given() -> None:
    row = parse_row(condition_row(nct_id="", frequency="  ", statuses=None, near="", timezone=""))
    assert (row.nct_id, row.frequency, row.statuses, row.near, row.timezone) == (
        None,
        "daily",
        (),
        None,
        "UTC",
    )


def test_nct_id_is_case_insensitive_and_stored_upper_case() -> None:
    assert parse_row(
        {"email": "a@example.com", "kind": "study", "nct_id": " nct07635641 "}
    ).nct_id == ("NCT07635641")


def test_field_names_are_case_insensitive_and_trimmed() -> None:
    row = parse_row({" EMAIL ": "ada@example.com", "Kind": "condition", "CONDITION ": "glioma"})
    assert (row.email, row.condition) == ("ada@example.com", "glioma")


def test_countries_are_deduped_case_insensitively_and_sorted_with_one_spelling() -> None:
    assert parse_row(condition_row(countries="spain;Austria;SPAIN;Spain")).countries == (
        "Austria",
        "SPAIN",
    )


def test_an_international_domain_is_kept_in_its_ascii_form_in_lower_case() -> None:
    assert parse_row(condition_row(email="Jose@Exämple.COM")).email == "jose@xn--exmple-cua.com"
    assert parse_row(condition_row(email="jose@xn--exmple-cua.com")).email == (
        "jose@xn--exmple-cua.com"
    )


def test_a_mailbox_name_outside_ascii_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="letters outside ASCII before the @"):
        parse_row(condition_row(email="José@example.com"))


def test_json_shaped_values_are_accepted_for_lists_and_near() -> None:
    row = parse_row(
        condition_row(
            statuses=["recruiting", "COMPLETED"],
            countries=["Italy", " France "],
            near={"lat": 45, "lon": -9.5, "km": 10},
        )
    )
    assert (row.statuses, row.countries, row.near) == (
        ("COMPLETED", "RECRUITING"),
        ("France", "Italy"),
        (45.0, -9.5, 10.0),
    )


def test_near_accepts_its_boundaries() -> None:
    assert parse_row(condition_row(near="-90,180,20000")).near == (-90.0, 180.0, 20000.0)


def test_every_status_and_country_of_the_real_registry_records_is_accepted() -> None:
    for study in ctgov_records():
        protocol = study["protocolSection"]
        locations = protocol.get("contactsLocationsModule", {}).get("locations", [])
        countries = sorted({site["country"] for site in locations if "country" in site})
        row = parse_row(
            {
                "email": "ada@example.com",
                "kind": "study",
                "nct_id": protocol["identificationModule"]["nctId"],
                "statuses": protocol["statusModule"]["overallStatus"],
                "countries": ";".join(countries),
            }
        )
        assert row.statuses == (protocol["statusModule"]["overallStatus"],)
        assert {country.casefold() for country in row.countries} == {
            country.casefold() for country in countries
        }


# -- parse_row: rejections -------------------------------------------------------


@pytest.mark.parametrize("nct_id", ["NCT123", "ABC12345678", "NCT123456789", "NCT1234567X", "NCT"])
def test_a_malformed_nct_id_is_rejected(nct_id: str) -> None:
    reason = reason_of({"email": "a@example.com", "kind": "study", "nct_id": nct_id})
    assert reason.startswith(f"nct_id {nct_id!r}: expected NCT followed by 8 digits")


@pytest.mark.parametrize(
    "email", ["not-an-email", "ada@", "@example.com", "ada@localhost", "a..b@example.com"]
)
def test_an_invalid_email_is_rejected(email: str) -> None:
    assert reason_of(condition_row(email=email)).startswith(f"email {email!r}: ")


def test_an_unknown_timezone_is_rejected() -> None:
    assert reason_of(condition_row(timezone="Mars/Olympus")) == (
        "timezone 'Mars/Olympus': not an IANA time zone name, e.g. Europe/Rome or UTC"
    )


def test_an_unknown_status_is_rejected_naming_it() -> None:
    reason = reason_of(condition_row(statuses="RECRUITING;OPEN"))
    assert reason.startswith("statuses 'RECRUITING;OPEN': unknown status 'OPEN'; expected some of")
    assert "NOT_YET_RECRUITING" in reason


PLACE_HINT = "expected lat,lon,km or PLACE;KM, e.g. 45.46,9.19,50 or Milan, Italy;50 or 10001;80"


@pytest.mark.parametrize(
    ("near", "why"),
    [
        ("45,9", PLACE_HINT),
        ("45,9,10,1", PLACE_HINT),
        ("a,b,c", "expected three numbers lat,lon,km"),
        ("91,0,10", "latitude 91.0 is outside [-90, 90]"),
        ("0,-181,10", "longitude -181.0 is outside [-180, 180]"),
        ("45,9,-1", "distance -1 km must be above 0 and at most 20,000 km"),
        ("45,9,0", "distance 0 km must be above 0 and at most 20,000 km"),
        ("45,9,20001", "distance 20001 km must be above 0 and at most 20,000 km"),
        ("nan,9,10", "numbers must be finite"),
        ("45,inf,10", "numbers must be finite"),
    ],
)
def test_a_malformed_near_is_rejected(near: str, why: str) -> None:
    assert reason_of(condition_row(near=near)) == f"near {near!r}: {why}"


def test_near_takes_a_city_with_its_country_or_a_us_zip_code_and_keeps_the_place() -> None:
    milan = parse_row(condition_row(near=" milan , italy ; 50"))
    assert milan.near == (45.46427, 9.18951, 50.0) and milan.near_place == "Milan, Italy"
    manhattan = parse_row(condition_row(near="10001;80"))
    assert manhattan.near == (40.7484, -73.9967, 80.0) and manhattan.near_place == "10001"
    assert parse_row(condition_row(near="45.46427,9.18951,50")).near_place is None


@pytest.mark.parametrize(
    ("near", "why"),
    [
        ("Springfield, United States;10", 'could be several places; did you mean "Springfield,'),
        ("Springfield;10", "a city needs its country"),
        ("Atlantis, Greece;5", "no city 'Atlantis' in Greece"),
        ("Milan, Italy;0", "distance 0 km must be above 0"),
        ("Milan, Italy;far", "distance 'far' is not a number"),
        ("99999;10", "99999 is not a US ZIP code we know"),
    ],
)
def test_an_unknown_or_ambiguous_place_is_rejected_naming_candidates(near: str, why: str) -> None:
    reason = reason_of(condition_row(near=near))
    assert reason.startswith(f"near {near!r}: ") and why in reason


def test_a_place_names_at_most_five_candidates() -> None:
    reason = reason_of(condition_row(near="Springfield, United States;10"))
    assert reason.count('"Springfield, ') == 5 and "(and 3 more)" in reason


@pytest.mark.parametrize(
    "near",
    [
        {"lat": 45, "lon": 9},
        {"lat": 45, "lon": 9, "km": 1, "x": 0},
        {"lat": "45", "lon": 9, "km": 1},
    ],
)
def test_a_malformed_near_object_is_rejected(near: dict[str, object]) -> None:
    assert reason_of(condition_row(near=near)).startswith("near ")


@pytest.mark.parametrize("condition", [None, "", "   "])
def test_a_condition_subscription_needs_a_condition(condition: str | None) -> None:
    assert reason_of(condition_row(condition=condition)) == (
        "condition: required for kind 'condition'"
    )


def test_a_study_subscription_needs_an_nct_id() -> None:
    assert reason_of({"email": "a@example.com", "kind": "study"}) == (
        "nct_id: required for kind 'study'"
    )


def test_a_study_subscription_must_not_name_a_condition() -> None:
    fields = {"email": "a@example.com", "kind": "study", "nct_id": "NCT07635641", "condition": "x"}
    assert reason_of(fields) == "condition 'x': must be empty for kind 'study'"


def test_a_condition_subscription_must_not_name_a_study() -> None:
    assert reason_of(condition_row(nct_id="NCT07635641")) == (
        "nct_id 'NCT07635641': must be empty for kind 'condition'"
    )


def test_email_and_kind_are_required() -> None:
    assert reason_of({}) == "email: required; kind: required"


def test_an_unknown_kind_or_frequency_is_rejected() -> None:
    assert reason_of(condition_row(kind="trial")) == (
        "kind 'trial': expected one of condition, study"
    )
    assert reason_of(condition_row(frequency="hourly")) == (
        "frequency 'hourly': expected one of instant, daily, weekly, monthly"
    )


def test_an_unknown_field_is_rejected_rather_than_ignored() -> None:
    assert reason_of(condition_row(frequncy="weekly")).startswith("unknown field 'frequncy'")


def test_a_field_given_twice_under_two_spellings_is_rejected() -> None:
    assert reason_of(condition_row(Email="bob@example.com")) == "field 'email' given twice"
    assert reason_of(condition_row(frequency="", FREQUENCY="weekly")) == (
        "field 'frequency' given twice"
    )


def test_every_bad_field_is_reported_at_once() -> None:
    reason = reason_of(condition_row(email="nope", timezone="Mars/Olympus", near="1,2"))
    assert [part.split(" ")[0] for part in reason.split("; ")] == ["email", "near", "timezone"]


def test_a_long_bad_value_is_truncated_in_the_reason() -> None:
    reason = reason_of(condition_row(timezone="X" * 500))
    assert reason == f"timezone '{'X' * 39}…': not an IANA time zone name, e.g. Europe/Rome or UTC"


@pytest.mark.parametrize("condition", ["lung\x00cancer", "x" * 101, "asthma evil.example/login"])
def test_a_condition_that_is_no_disease_name_is_rejected(condition: str) -> None:
    assert reason_of(condition_row(condition=condition)).startswith("condition ")


def test_a_value_of_the_wrong_json_type_is_rejected() -> None:
    assert reason_of(condition_row(email=42)) == "email '42': expected text, got a number"
    assert reason_of(condition_row(statuses=["RECRUITING", 3])) == (
        "statuses '[\"RECRUITING\", 3]': expected an array of strings, found a number"
    )
    assert reason_of(condition_row(countries=["Korea; Republic of"])).endswith("contains ';'")


# -- eligibility and design filters -----------------------------------------------


def test_eligibility_filters_are_stored_in_normal_form() -> None:
    row = parse_row(
        condition_row(
            age=" 42 ",
            sex=" Female",
            healthy_volunteers="TRUE",
            phases="phase 2; Early Phase 1;PHASE2",
            study_types="interventional;Expanded-Access",
        )
    )
    assert (row.age, row.sex, row.healthy_volunteers, row.phases, row.study_types) == (
        42,
        "female",
        True,
        ("EARLY_PHASE1", "PHASE2"),
        ("INTERVENTIONAL", "EXPANDED_ACCESS"),
    )


def test_eligibility_filters_take_json_types() -> None:
    row = parse_row(
        condition_row(age=0, healthy_volunteers=True, phases=["NA"], study_types=["OBSERVATIONAL"])
    )
    assert (row.age, row.healthy_volunteers, row.phases, row.study_types) == (
        0,
        True,
        ("NA",),
        ("OBSERVATIONAL",),
    )


def test_healthy_volunteers_false_is_not_asking() -> None:
    assert parse_row(condition_row(healthy_volunteers="false")).healthy_volunteers is None
    assert parse_row(condition_row(healthy_volunteers=False)) == parse_row(condition_row())


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"age": "-1"}, "age '-1': expected whole years from 0 to 120, e.g. 42"),
        ({"age": "200"}, "age '200': expected whole years from 0 to 120"),
        ({"age": 121}, "age '121': expected whole years from 0 to 120"),
        ({"age": "1.5"}, "age '1.5': expected whole years from 0 to 120, e.g. 42"),
        ({"age": 1.5}, "age '1.5': expected whole years from 0 to 120, e.g. 42"),
        ({"age": True}, "age 'true': expected whole years from 0 to 120, e.g. 42"),
        ({"age": "forty"}, "age 'forty': expected whole years from 0 to 120, e.g. 42"),
        ({"sex": "other"}, "sex 'other': expected one of female, male"),
        ({"sex": "all"}, "sex 'all': expected one of female, male"),
        ({"healthy_volunteers": "yes"}, "healthy_volunteers 'yes': expected true or false"),
        ({"healthy_volunteers": 1}, "healthy_volunteers '1': expected text, got a number"),
        (
            {"phases": "PHASE2;PHASE5"},
            "phases 'PHASE2;PHASE5': unknown phase 'PHASE5'; expected some of "
            "EARLY_PHASE1, PHASE1, PHASE2, PHASE3, PHASE4, NA",
        ),
        (
            {"study_types": "RANDOMIZED"},
            "study_types 'RANDOMIZED': unknown study type 'RANDOMIZED'; expected some of "
            "INTERVENTIONAL, OBSERVATIONAL, EXPANDED_ACCESS",
        ),
    ],
)
def test_a_bad_eligibility_value_is_rejected_naming_the_field(
    fields: dict[str, object], reason: str
) -> None:
    assert reason_of(condition_row(**fields)) == reason


def test_eligibility_filters_are_for_condition_alerts_only() -> None:
    follow = {"email": "ada@example.com", "kind": "study", "nct_id": "NCT07635641"}
    assert reason_of(follow | {"age": "40", "sex": "male"}) == (
        "age '40': must be empty for kind 'study'; sex 'male': must be empty for kind 'study'"
    )


# -- identity ------------------------------------------------------------------


def test_identity_ignores_frequency_timezone_and_the_case_of_condition_and_countries() -> None:
    daily = parse_row(condition_row(condition="Lung Cancer", countries="Italy"))
    weekly = parse_row(
        condition_row(
            condition="lung  cancer", countries="ITALY", frequency="weekly", timezone="Asia/Tokyo"
        )
    )
    assert daily.identity() == weekly.identity()


def test_identity_tells_filters_apart() -> None:
    plain = parse_row(condition_row())
    assert plain.identity() != parse_row(condition_row(statuses="RECRUITING")).identity()
    assert plain.identity() != parse_row(condition_row(near="45,9,10")).identity()
    assert plain.identity() != parse_row(condition_row(email="bob@example.com")).identity()


def test_identity_of_a_place_is_the_place_and_distance_not_its_point() -> None:
    milan = parse_row(condition_row(near="Milan, Italy;50"))
    point = parse_row(condition_row(near="45.46427,9.18951,50"))
    assert milan.near == point.near and milan.identity() != point.identity()
    assert milan.identity()[5] == ("Milan, Italy", 50.0)
    assert milan.identity() == parse_row(condition_row(near="MILAN,italy;50.0")).identity()


def test_identity_tells_eligibility_filters_apart_and_keeps_its_old_form_without_them() -> None:
    plain = parse_row(condition_row())
    forty = parse_row(condition_row(age="40"))
    assert len(plain.identity()) == 6  # as stored before eligibility filters existed
    assert forty.identity() != plain.identity()
    assert forty.identity() != parse_row(condition_row(age="41")).identity()
    assert (
        forty.identity() == parse_row(condition_row(age=40, healthy_volunteers="false")).identity()
    )
    for name, value in [
        ("sex", "male"),
        ("healthy_volunteers", "true"),
        ("phases", "PHASE1"),
        ("study_types", "OBSERVATIONAL"),
    ]:
        assert parse_row(condition_row(**{name: value})).identity() != plain.identity()


# -- reading files ---------------------------------------------------------------


def test_a_csv_file_yields_rows_with_their_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subs.csv",
        f"{HEADER}\n"
        "ada@example.com,condition,lung cancer,,,,,,\n"
        'bob@example.com,study,,NCT07635641,instant,RECRUITING,Italy,"45.38,9.16,50",Europe/Rome\n',
    )
    rows = read_all(path)
    assert [line for line, _ in rows] == [2, 3]
    assert rows[1][1] == SubscriptionRow(
        "bob@example.com",
        "study",
        None,
        "NCT07635641",
        "instant",
        ("RECRUITING",),
        ("Italy",),
        (45.38, 9.16, 50.0),
        "Europe/Rome",
    )


def test_a_csv_file_with_the_eligibility_columns_reads_them(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subs.csv",
        f"{FULL_HEADER}\n"
        "ada@example.com,condition,lung cancer,,,,,,,40,female,true,PHASE2;PHASE3,INTERVENTIONAL\n"
        "bob@example.com,condition,lung cancer,,,,,,,200,,,,\n"
        "cy@example.com,condition,lung cancer,,,,,,,,,,,\n",
    )
    [(_, ada), (_, bad), (_, cy)] = read_all(path)
    assert isinstance(ada, SubscriptionRow)
    assert (ada.age, ada.sex, ada.healthy_volunteers, ada.phases, ada.study_types) == (
        40,
        "female",
        True,
        ("PHASE2", "PHASE3"),
        ("INTERVENTIONAL",),
    )
    assert bad == RowError(3, "age '200': expected whole years from 0 to 120")
    assert cy == parse_row(
        {"email": "cy@example.com", "kind": "condition", "condition": "lung cancer"}
    )


def test_a_bad_csv_row_is_reported_with_its_line_and_the_rest_still_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subs.csv",
        "email,kind,nct_id\nada@example.com,study,NCT123\nbob@example.com,study,NCT07635641\n",
    )
    rows = read_all(path)
    assert rows[0] == (
        2,
        RowError(2, "nct_id 'NCT123': expected NCT followed by 8 digits, e.g. NCT07635641"),
    )
    assert isinstance(rows[1][1], SubscriptionRow)


def test_a_utf8_bom_at_the_start_of_a_csv_file_is_ignored(tmp_path: Path) -> None:
    path = write(
        tmp_path, "subs.csv", "\ufeffemail,kind,condition\nada@example.com,condition,glioma\n"
    )
    assert [row.email for _, row in read_all(path)] == ["ada@example.com"]  # type: ignore[union-attr]


def test_a_utf8_bom_at_the_start_of_a_jsonl_file_is_ignored(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subs.jsonl",
        '\ufeff{"email": "ada@example.com", "kind": "condition", "condition": "glioma"}\n',
    )
    assert isinstance(read_all(path)[0][1], SubscriptionRow)


def test_quoted_commas_and_newlines_keep_the_line_where_the_row_starts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subs.csv",
        "email,kind,condition,countries\n"
        'ada@example.com,condition,"head and neck cancer,\nrecurrent","Korea, Republic of"\n'
        "bob@example.com,condition,glioma,\n"
        'carl@example.com,condition,"a\n\nb",Mars\n'
        "nope,condition,glioma,\n",
    )
    rows = read_all(path)
    assert [line for line, _ in rows] == [2, 4, 5, 8]
    first = rows[0][1]
    assert isinstance(first, SubscriptionRow)
    assert (first.condition, first.countries) == (
        "head and neck cancer, recurrent",
        ("Korea, Republic of",),
    )
    assert isinstance(rows[3][1], RowError) and rows[3][1].line == 8


def test_blank_lines_are_skipped_but_counted_in_csv(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subs.csv",
        "\nemail,kind,condition\n\nada@example.com,condition,glioma\n"
        "  \n,,\nnope,condition,glioma\n\n",
    )
    assert [(line, type(row).__name__) for line, row in read_all(path)] == [
        (4, "SubscriptionRow"),
        (7, "RowError"),
    ]


def test_blank_lines_are_skipped_but_counted_in_jsonl(tmp_path: Path) -> None:
    line = '{"email": "ada@example.com", "kind": "condition", "condition": "glioma"}'
    path = write(tmp_path, "subs.jsonl", f"\n{line}\n \n\n{line}\n")
    assert [number for number, _ in read_all(path)] == [2, 5]


def test_crlf_line_endings_are_read_like_lf(tmp_path: Path) -> None:
    csv_path = write(
        tmp_path,
        "subs.csv",
        'email,kind,condition\r\nada@example.com,condition,"lung\r\ncancer"\r\n\r\nnope,condition,x\r\n',
    )
    assert [(line, getattr(row, "condition", None)) for line, row in read_all(csv_path)] == [
        (2, "lung cancer"),
        (5, None),
    ]
    jsonl_path = write(
        tmp_path,
        "subs.jsonl",
        '{"email": "ada@example.com", "kind": "study", "nct_id": "NCT07635641"}\r\n\r\n[]\r\n',
    )
    rows = read_all(jsonl_path)
    assert isinstance(rows[0][1], SubscriptionRow)
    assert rows[1] == (3, RowError(3, "expected a JSON object, got an array"))


def test_duplicate_rows_are_all_yielded_for_the_caller_to_dedupe(tmp_path: Path) -> None:
    row = "ada@example.com,condition,Lung Cancer,daily"
    path = write(tmp_path, "subs.csv", f"email,kind,condition,frequency\n{row}\n{row.lower()}\n")
    rows = [row for _, row in read_all(path)]
    assert len(rows) == 2 and all(isinstance(row, SubscriptionRow) for row in rows)
    assert rows[0].identity() == rows[1].identity()  # type: ignore[union-attr]


def test_the_same_subscription_twice_with_another_frequency_is_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subs.csv",
        "email,kind,condition,frequency\n"
        "ada@example.com,condition,lung cancer,daily\n"
        "bob@example.com,condition,lung cancer,weekly\n"
        "ada@example.com,condition,Lung Cancer,weekly\n",
    )
    assert read_all(path)[2] == (
        4,
        RowError(
            4,
            "same subscription as line 2 but frequency 'weekly' instead of 'daily'; "
            "keep one of the two lines",
        ),
    )


def test_one_email_with_two_timezones_is_rejected_on_the_later_row(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subs.jsonl",
        '{"email": "ada@example.com", "kind": "condition", "condition": "glioma", '
        '"timezone": "Europe/Rome"}\n'
        '{"email": "ADA@example.com", "kind": "study", "nct_id": "NCT07635641"}\n',
    )
    assert read_all(path)[1] == (
        2,
        RowError(
            2,
            "timezone 'UTC' differs from 'Europe/Rome' on line 1 for ada@example.com: "
            "a subscriber has one timezone",
        ),
    )


def test_unknown_csv_columns_reject_the_whole_file_naming_them(tmp_path: Path) -> None:
    path = write(tmp_path, "subs.csv", "email,kind,condition,frequncy,zone\n")
    with pytest.raises(
        ImportFileError, match=r"subs\.csv, line 1: unknown column\(s\) 'frequncy', 'zone'"
    ):
        read_all(path)


@pytest.mark.parametrize("header", ["kind,condition", "email,condition", " ", ""])
def test_a_csv_without_email_and_kind_columns_is_rejected(tmp_path: Path, header: str) -> None:
    path = write(tmp_path, "subs.csv", f"{header}\n")
    with pytest.raises(ImportFileError, match=r"subs\.csv"):
        read_all(path)


def test_a_column_given_twice_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "subs.csv", "email,kind,Email\n")
    with pytest.raises(ImportFileError, match="column\\(s\\) email given twice"):
        read_all(path)


def test_csv_column_names_are_case_insensitive_and_trimmed(tmp_path: Path) -> None:
    path = write(
        tmp_path, "subs.csv", " Email , KIND ,Condition\nada@example.com,condition,glioma\n"
    )
    assert isinstance(read_all(path)[0][1], SubscriptionRow)


def test_a_csv_row_with_the_wrong_number_of_fields_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "subs.csv", "email,kind,condition\nada@example.com,condition,glioma,x\n")
    assert read_all(path) == [(2, RowError(2, "4 fields but the header has 3 columns"))]


def test_malformed_csv_quoting_rejects_the_row_and_reading_goes_on(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subs.csv",
        'email,kind,condition\nada@example.com,condition,"glioma"x\nbob@example.com,condition,glioma\n',
    )
    rows = read_all(path)
    assert isinstance(rows[0][1], RowError) and rows[0][1].reason.startswith("malformed CSV")
    assert rows[0][0] == 2
    assert isinstance(rows[-1][1], SubscriptionRow) and rows[-1][1].email == "bob@example.com"


def test_a_line_that_is_not_utf8_rejects_only_its_row(tmp_path: Path) -> None:
    path = tmp_path / "subs.csv"
    path.write_bytes(
        b"email,kind,condition\nada@example.com,condition,gli\xffoma\nbob@example.com,condition,glioma\n"
    )
    assert [(line, type(row).__name__) for line, row in read_all(path)] == [
        (2, "RowError"),
        (3, "SubscriptionRow"),
    ]


def test_an_unknown_jsonl_key_rejects_just_that_row(tmp_path: Path) -> None:
    good = '{"email": "ada@example.com", "kind": "condition", "condition": "glioma"}'
    typo = good.replace("}", ', "frequncy": "weekly"}')
    rows = read_all(write(tmp_path, "subs.jsonl", f"{good}\n{typo}\n{good}\n"))
    assert [type(row).__name__ for _, row in rows] == [
        "SubscriptionRow",
        "RowError",
        "SubscriptionRow",
    ]
    assert rows[1][1].reason.startswith("unknown field 'frequncy'")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{email: ada}", "not valid JSON: "),
        ('{"email": "a@example.com"', "not valid JSON: "),
        (
            '{"email": "a@example.com", "email": "b@example.com"}',
            "not valid JSON: a key is repeated",
        ),
        ('"ada@example.com"', "expected a JSON object, got a string"),
        ("[1, 2]", "expected a JSON object, got an array"),
        ("42", "expected a JSON object, got a number"),
        ("null", "expected a JSON object, got null"),
    ],
)
def test_a_jsonl_line_that_is_not_a_json_object_is_rejected(
    tmp_path: Path, line: str, reason: str
) -> None:
    [(number, error)] = read_all(write(tmp_path, "subs.jsonl", f"\n{line}\n"))
    assert number == 2 and isinstance(error, RowError) and error.line == 2
    assert error.reason.startswith(reason)


def test_jsonl_rows_take_arrays_and_objects(tmp_path: Path) -> None:
    line = json.dumps(
        {
            "email": "ada@example.com",
            "kind": "condition",
            "condition": "melanoma",
            "statuses": ["RECRUITING"],
            "countries": ["Italy"],
            "near": {"lat": 45.38, "lon": 9.16, "km": 50},
        }
    )
    [(_, row)] = read_all(write(tmp_path, "subs.ndjson", line + "\n"))
    assert isinstance(row, SubscriptionRow) and row.near == (45.38, 9.16, 50.0)


@pytest.mark.parametrize("name", ["subs.txt", "subs.json", "subs", "subs.csv.gz"])
def test_an_unknown_extension_is_a_usage_error_before_reading(tmp_path: Path, name: str) -> None:
    with pytest.raises(ImportFileError, match="unknown file type"):
        read_subscription_file(tmp_path / name)


def test_the_extension_is_case_insensitive(tmp_path: Path) -> None:
    path = write(tmp_path, "SUBS.CSV", "email,kind,condition\nada@example.com,condition,glioma\n")
    assert len(read_all(path)) == 1


def test_a_missing_file_is_an_import_file_error(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="cannot read"):
        read_all(tmp_path / "missing.csv")


def test_a_ten_thousand_row_file_streams_without_error(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER + "\n")
        for n in range(10_000):
            out.write(
                f"user{n % 3000}@example.com,condition,condition {n},,weekly,RECRUITING,"
                f'Italy;France,"45.{n},9.1,25",Europe/Rome\n'
            )
    rows = read_subscription_file(path)
    count = 0
    for line, row in rows:
        count += 1
        assert isinstance(row, SubscriptionRow) and line == count + 1
    assert count == 10_000


# -- writing files ---------------------------------------------------------------


STUDY = SubscriptionRow(
    "bob@example.com",
    "study",
    None,
    "NCT07635641",
    "instant",
    ("NOT_YET_RECRUITING", "RECRUITING"),
    ("Italy", "Korea, Republic of"),
    (45.38, 9.16, 50.0),
    "Europe/Rome",
)
CONDITION = SubscriptionRow(
    "ada@example.com", "condition", 'Lung "NSCLC" cancer', None, "daily", (), (), None, "UTC"
)
FILTERED = parse_row(
    {
        "email": "cy@example.com",
        "kind": "condition",
        "condition": "melanoma",
        "near": "Milan, Italy;50",
        "age": "40",
        "sex": "male",
        "healthy_volunteers": "true",
        "phases": "PHASE2;PHASE3",
        "study_types": "INTERVENTIONAL",
    }
)


def test_csv_export_writes_the_header_then_one_line_a_row() -> None:
    out = io.StringIO()
    assert write_subscription_file([STUDY, CONDITION], out, "csv") == 2
    assert out.getvalue() == (
        f"{FULL_HEADER}\n"
        "bob@example.com,study,,NCT07635641,instant,NOT_YET_RECRUITING;RECRUITING,"
        '"Italy;Korea, Republic of","45.38,9.16,50.0",Europe/Rome,,,,,\n'
        'ada@example.com,condition,"Lung ""NSCLC"" cancer",,daily,,,,UTC,,,,,\n'
    )
    assert FULL_HEADER.split(",") == list(FIELDS)


def test_export_writes_every_filter_and_a_place_as_it_was_given() -> None:
    out = io.StringIO()
    write_subscription_file([FILTERED], out, "csv")
    assert out.getvalue().splitlines()[1] == (
        'cy@example.com,condition,melanoma,,daily,,,"Milan, Italy;50",UTC,'
        "40,male,true,PHASE2;PHASE3,INTERVENTIONAL"
    )
    out = io.StringIO()
    write_subscription_file([FILTERED], out, "jsonl")
    written = json.loads(out.getvalue())
    assert written["near"] == "Milan, Italy;50"
    assert {name: written[name] for name in FIELDS[-5:]} == {
        "age": 40,
        "sex": "male",
        "healthy_volunteers": True,
        "phases": ["PHASE2", "PHASE3"],
        "study_types": ["INTERVENTIONAL"],
    }


def test_jsonl_export_writes_one_object_a_line_with_every_key() -> None:
    out = io.StringIO()
    assert write_subscription_file([STUDY], out, "jsonl") == 1
    assert json.loads(out.getvalue()) == {
        "email": "bob@example.com",
        "kind": "study",
        "condition": None,
        "nct_id": "NCT07635641",
        "frequency": "instant",
        "statuses": ["NOT_YET_RECRUITING", "RECRUITING"],
        "countries": ["Italy", "Korea, Republic of"],
        "near": {"lat": 45.38, "lon": 9.16, "km": 50.0},
        "timezone": "Europe/Rome",
        "age": None,
        "sex": None,
        "healthy_volunteers": None,
        "phases": [],
        "study_types": [],
    }
    assert out.getvalue().count("\n") == 1


def test_an_unknown_export_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown export format 'xml'"):
        write_subscription_file([STUDY], io.StringIO(), "xml")


def test_an_empty_export_is_a_header_alone() -> None:
    out = io.StringIO()
    assert write_subscription_file([], out, "csv") == 0
    assert out.getvalue() == FULL_HEADER + "\n"


# -- round trip ------------------------------------------------------------------

TIMEZONES = ["UTC", "Europe/Rome", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
COUNTRIES = ["Italy", "united states", "Korea, Republic of", "Côte d'Ivoire", "Türkiye", "Guam"]
LOCAL_PART = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9+_-]|\.[A-Za-z0-9]){0,15}", fullmatch=True)
DOMAINS = st.sampled_from(["example.com", "Mail.Example.ORG", "exämple.de", "sub.example.co.uk"])


def _is_disease_name(text: str) -> bool:
    """A condition parse_row takes: a disease name with a word beyond stop words."""
    try:
        return bool(disease_name(text)) and bool(normalize_term(text))
    except ValueError:
        return False


CONDITIONS = (
    st.text(
        st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn")), min_size=1, max_size=80
    )
    .map(lambda text: " ".join(text.split()))
    .filter(_is_disease_name)
)
NCT_IDS = st.from_regex(r"NCT[0-9]{8}", fullmatch=True)
PLACES = ["Milan, Italy;50", "10001;80", "Paris, France;12.5", "springfield, illinois, us;0.5"]
NEAR = st.tuples(
    st.floats(-90, 90, allow_nan=False),
    st.floats(-180, 180, allow_nan=False),
    st.floats(0.001, 20_000, allow_nan=False),
)
# Any place of the gazetteer, typed in any case, or a US ZIP (+4): loaded on first draw.
LABELS = st.deferred(
    lambda: st.sampled_from(sorted({label[0] for label in places._gazetteer().labels}))
)
TYPED_PLACES = st.builds(
    lambda place, spelling, km: f"{spelling(place)};{km!r}",
    LABELS | st.sampled_from(["10001", "02134-1234", " 99577 "]),
    st.sampled_from([str, str.upper, str.lower]),
    st.floats(0.001, 20_000),
)
# Each eligibility value as people write it; parse_row keeps one normal form.
AGES = st.none() | st.integers(0, 120) | st.integers(0, 120).map(lambda age: f" {age:03d} ")
SEXES = st.sampled_from([None, "female", "male", "Female", " MALE "])
HEALTHY = st.sampled_from([None, True, False, "true", "FALSE"])
LOOSE_PHASES = st.sampled_from([*PHASES, "Phase 2", "phase_1", "early phase 1", "n a"])
LOOSE_TYPES = st.sampled_from([*STUDY_TYPES, "expanded access", "Interventional"])


def _listed(items: st.SearchStrategy[str]) -> st.SearchStrategy[object]:
    """A JSON list or a ";"-list of the items."""
    lists = st.lists(items, max_size=3)
    return lists | lists.map(";".join)


@st.composite
def subscription_rows(draw: st.DrawFn) -> SubscriptionRow:
    kind = draw(st.sampled_from(["condition", "study"]))
    fields: dict[str, object] = {
        "email": f"{draw(LOCAL_PART)}@{draw(DOMAINS)}",
        "kind": kind,
        "condition": draw(CONDITIONS) if kind == "condition" else None,
        "nct_id": draw(NCT_IDS) if kind == "study" else None,
        "frequency": draw(st.sampled_from(["instant", "daily", "weekly"])),
        "statuses": draw(st.lists(st.sampled_from(sorted(OVERALL_STATUSES)), max_size=4)),
        "countries": draw(st.lists(st.sampled_from(COUNTRIES), max_size=4)),
        "near": draw(
            st.none()
            | NEAR.map(lambda near: dict(zip(("lat", "lon", "km"), near, strict=True)))
            | st.sampled_from(PLACES)
            | TYPED_PLACES
        ),
        "timezone": draw(st.sampled_from(TIMEZONES)),
    }
    if kind == "condition":
        fields |= {
            "age": draw(AGES),
            "sex": draw(SEXES),
            "healthy_volunteers": draw(HEALTHY),
            "phases": draw(_listed(LOOSE_PHASES)),
            "study_types": draw(_listed(LOOSE_TYPES)),
        }
    return parse_row(fields)


def consistent(rows: list[SubscriptionRow]) -> list[SubscriptionRow]:
    """One timezone per email and one frequency per subscription, as a real file says."""
    zones: dict[str, str] = {}
    frequencies: dict[tuple[object, ...], str] = {}
    result = []
    for row in rows:
        row = replace(row, timezone=zones.setdefault(row.email, row.timezone))
        row = replace(row, frequency=frequencies.setdefault(row.identity(), row.frequency))
        result.append(row)
    return result


@pytest.mark.parametrize(("fmt", "name"), [("csv", "out.csv"), ("jsonl", "out.jsonl")])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(subscription_rows(), max_size=8).map(consistent))
def test_every_exported_row_reads_back_equal(
    tmp_path: Path, fmt: str, name: str, rows: list[SubscriptionRow]
) -> None:
    path = tmp_path / name
    with path.open("w", encoding="utf-8", newline="") as out:
        assert write_subscription_file(rows, out, fmt) == len(rows)
    assert [row for _, row in read_subscription_file(path)] == rows
