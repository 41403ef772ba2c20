"""`near` by point, by city with its country, or by US ZIP code; resolved offline."""

from __future__ import annotations

import math
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.subscriptions import places
from worker.subscriptions.places import (
    MAX_NEAR_KM,
    MIN_NEAR_KM,
    Near,
    Place,
    format_near,
    km_from,
    parse_near,
    point_near,
    resolve_place,
)

MILAN = Place("Milan, Italy", 45.46427, 9.18951)


def error(text: str) -> str:
    with pytest.raises(ValueError) as caught:
        parse_near(text)
    return str(caught.value)


# -- points --------------------------------------------------------------------


def test_a_point_is_lat_lon_km_without_a_place() -> None:
    assert parse_near(" 45.46, 9.19 ,50") == Near(45.46, 9.19, 50.0, None)
    assert parse_near("-90,180,0.5") == Near(-90.0, 180.0, 0.5, None)
    assert parse_near("10001;0.001") == Near(40.7484, -73.9967, 0.001, "10001")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("45,9", "expected lat,lon,km or PLACE;KM"),
        ("45,9,10,1", "expected lat,lon,km or PLACE;KM"),
        ("a,9,10", "expected three numbers"),
        ("nan,9,10", "finite"),
        ("45,9,inf", "finite"),
        ("91,9,10", "latitude 91.0 is outside [-90, 90]"),
        ("45,-181,10", "longitude -181.0 is outside [-180, 180]"),
        ("45,9,0", "distance 0 km must be above 0 and at most 20,000 km"),
        ("45,9,-5", "distance -5 km must be above 0"),
        ("45,9,20000.5", "at most 20,000 km"),
        ("45,9,1e-300", "distance 1e-300 km is under a metre; give at least 0.001 km"),
        ("45,9,0.0009", "under a metre"),
    ],
)
def test_a_bad_point_says_what_is_wrong(text: str, reason: str) -> None:
    assert reason in error(text)


def test_near_must_be_text() -> None:
    with pytest.raises(ValueError, match="expected 'lat,lon,km' or 'PLACE;KM', got a number"):
        parse_near(12)  # type: ignore[arg-type]


def test_point_near_checks_numbers_given_apart() -> None:
    assert point_near(1.5, -2.0, 3.0) == Near(1.5, -2.0, 3.0, None)
    with pytest.raises(ValueError, match="latitude"):
        point_near(-90.5, 0.0, 1.0)


# -- cities --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Milan, Italy",
        "milan,italy",
        "  MILAN ,  ITALY ",
        "Milano, Italy",  # another name of the city in geonames
        "Mailand, IT",
        "Milan, ITA",
    ],
)
def test_a_city_is_found_by_its_name_or_another_name_with_its_country(text: str) -> None:
    assert resolve_place(text) == MILAN


def test_a_city_whose_name_holds_commas_is_labelled_without_them() -> None:
    """geonames writes "Misato, Saitama": as a label, "Saitama" would be read as a US state."""
    place = resolve_place("Misato Saitama, Japan")
    assert place.label == "Misato Saitama, Japan"
    assert resolve_place(place.label) == place
    assert '"Misato Saitama, Japan"' in error("Misato, Japan;10")


def test_the_label_is_the_canonical_name_whatever_was_typed() -> None:
    assert parse_near("milano, italy;50") == Near(MILAN.lat, MILAN.lon, 50.0, "Milan, Italy")


@pytest.mark.parametrize("text", ["São Paulo, Brazil", "Sao Paulo, Brazil", "sao-paulo, brazil"])
def test_accents_and_punctuation_fold(text: str) -> None:
    assert resolve_place(text).label == "São Paulo, Brazil"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Boston, United States", "Boston, Massachusetts, United States"),
        ("Boston, USA", "Boston, Massachusetts, United States"),
        ("Boston, US", "Boston, Massachusetts, United States"),
        ("Boston, U.S.A.", "Boston, Massachusetts, United States"),
        ("Boston, United States of America", "Boston, Massachusetts, United States"),
        ("Leeds, UK", "Leeds, United Kingdom"),
        ("Leeds, United Kingdom", "Leeds, United Kingdom"),
        ("Leeds, England", "Leeds, United Kingdom"),
        ("Leeds, GB", "Leeds, United Kingdom"),
        ("Amsterdam, Netherlands", "Amsterdam, The Netherlands"),
        ("Amsterdam, The Netherlands", "Amsterdam, The Netherlands"),
        # The registry's own spellings of countries, commas and all.
        ("Seoul, Korea, Republic of", "Seoul, South Korea"),
        ("Moscow, Russian Federation", "Moscow, Russia"),
        ("Hanoi, Viet Nam", "Hanoi, Vietnam"),
    ],
)
def test_countries_go_by_name_code_and_common_forms(text: str, label: str) -> None:
    assert resolve_place(text).label == label


def test_a_us_city_takes_its_state_by_name_or_code() -> None:
    expected = "Springfield, Illinois, United States"
    assert resolve_place("Springfield, Illinois, United States").label == expected
    assert resolve_place("springfield, il, usa").label == expected
    assert resolve_place("Springfield, Illinois").label == expected


def test_a_name_that_is_a_country_and_a_state_means_either() -> None:
    assert resolve_place("Atlanta, Georgia").label == "Atlanta, Georgia, United States"
    assert resolve_place("Tbilisi, Georgia").label == "Tbilisi, Georgia"
    assert resolve_place("Los Angeles, CA").label == "Los Angeles, California, United States"
    assert resolve_place("Toronto, CA").label == "Toronto, Canada"


def test_same_name_in_one_country_lists_candidates_told_apart_by_state() -> None:
    reason = error("Springfield, United States;10")
    assert reason.startswith("'Springfield, United States' could be several places; did you mean")
    candidates = reason.split("did you mean ")[1]
    quoted = candidates.split('"')[1::2]
    assert len(quoted) == 5
    assert "Springfield, Illinois, United States" in quoted
    assert "Springfield, Missouri, United States" in quoted
    assert all(label.startswith("Springfield, ") for label in quoted)
    assert len(set(quoted)) == 5
    assert candidates.endswith("more)")
    # Every candidate, typed back, is one place.
    for label in quoted:
        assert resolve_place(label).label == label


def test_other_names_shared_by_two_cities_are_ambiguous() -> None:
    reason = error("Frankfurt, Germany;10")
    assert '"Frankfurt am Main, Germany"' in reason
    assert '"Frankfurt (Oder), Germany"' in reason
    assert resolve_place("Frankfurt am Main, Germany").label == "Frankfurt am Main, Germany"


def test_a_city_without_its_country_names_where_it_could_be() -> None:
    reason = error("Springfield;5")
    assert reason.startswith("a city needs its country, e.g. Milan, Italy; did you mean")
    assert '"Springfield, Missouri, United States"' in reason


def test_an_unknown_city_names_what_it_may_have_meant() -> None:
    assert error("Milann, Italy;5") == (
        "no city 'Milann' in Italy among places of 15,000 people or more; "
        'did you mean "Milan, Italy"'
    )
    assert 'did you mean "Milan, Italy"' in error("Milan, France;5")
    assert error("Xyzzy, Italy;5") == (
        "no city 'Xyzzy' in Italy among places of 15,000 people or more"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Milan, Narnia;5", "'Narnia' is not a country we know"),
        ("Milan, Lombardy, Italy;5", "'Lombardy' is not a US state"),
        ("Paris, Texas, Ohio, US;5", "'Texas, Ohio' is not a US state"),
        ("Milan, , Italy;5", "has an empty part between commas"),
        (" ;5", "no place given"),
        ("Milan, Italy;", "distance '' is not a number"),
        ("Milan, Italy;fifty", "distance 'fifty' is not a number"),
        ("Milan, Italy;0", "distance 0 km must be above 0"),
        ("Milan, Italy;25000", "at most 20,000 km"),
        ("Milan, Italy;nan", "distance nan km must be above 0"),
        ("Milan, Italy;0.0001", "under a metre"),
        ("00000;5", "00000 is not a US ZIP code we know"),
    ],
)
def test_bad_places_and_distances_say_why(text: str, reason: str) -> None:
    assert reason in error(text)


def test_a_place_longer_than_any_label_is_refused_before_it_is_read() -> None:
    """Each tail of the commas was tried as a country: 60 KB took minutes of CPU."""
    assert "a place is at most 200 characters" in error("a, " * 2_000 + "Italy;10")
    assert "a place is at most 200 characters" in error("x" * 201 + ";10")
    assert "at most 200 characters" not in error("x" * 200 + ";10")


# -- ZIP codes -----------------------------------------------------------------


def test_a_us_zip_code_is_a_place_labelled_by_its_five_digits() -> None:
    assert parse_near("10001;80") == Near(40.7484, -73.9967, 80.0, "10001")
    assert parse_near(" 10001-1234 ;80") == Near(40.7484, -73.9967, 80.0, "10001")


# -- export --------------------------------------------------------------------


@pytest.mark.parametrize(
    "near",
    [
        Near(45.46427, 9.18951, 50.0, "Milan, Italy"),
        Near(40.7484, -73.9967, 80.4672, "10001"),
        Near(39.80172, -89.64371, 10.0, "Springfield, Illinois, United States"),
        Near(45.0, 9.0, 10.0, None),
        Near(-33.8688197, 151.2092955, 0.001, None),
    ],
)
def test_format_near_reads_back_to_the_same_near(near: Near) -> None:
    assert parse_near(format_near(near)) == near


def test_format_near_writes_short_numbers() -> None:
    assert format_near(Near(45.46427, 9.18951, 50.0, "Milan, Italy")) == "Milan, Italy;50"
    assert format_near(Near(45.0, -9.5, 12.5, None)) == "45,-9.5,12.5"


@given(
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.floats(MIN_NEAR_KM, MAX_NEAR_KM),
)
def test_every_point_round_trips(lat: float, lon: float, km: float) -> None:
    near = Near(lat, lon, km, None)
    assert parse_near(format_near(near)) == near


def test_every_label_resolves_to_itself() -> None:
    """Each label, typed back, is the same place: what export writes, import reads."""
    gazetteer = places._gazetteer()
    labels = sorted(set(gazetteer.labels))
    assert len(labels) > 30_000
    for label in labels:
        place = resolve_place(label[0])
        assert (place.label, place.lat, place.lon) == (label[0], *gazetteer.points[label])


# -- the web form's distance ---------------------------------------------------


def test_km_from_a_form_in_km_or_miles() -> None:
    assert km_from("50", "km") == 50.0
    assert km_from("50", "mi") == 80.467
    assert km_from(2.5, "km") == 2.5
    assert math.isclose(km_from("12000", "mi"), 19312.128)


@pytest.mark.parametrize(
    ("value", "unit", "reason"),
    [
        ("0", "km", "distance 0 km must be above 0"),
        ("-3", "mi", "distance -3 mi must be above 0 and at most 12,427 mi"),
        ("13000", "mi", "at most 12,427 mi"),
        ("20001", "km", "at most 20,000 km"),
        ("ten", "km", "distance 'ten' is not a number"),
        ("10", "furlongs", "unit 'furlongs' is not one of km, mi"),
        ("inf", "mi", "must be above 0"),
    ],
)
def test_km_from_rejects_absurd_distances(value: str, unit: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        km_from(value, unit)


def test_the_gazetteer_is_read_once_per_process_even_by_threads_asking_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read = places._read_gazetteer
    reads: list[int] = []

    def slow_read() -> places._Gazetteer:
        reads.append(1)
        time.sleep(0.2)  # both threads arrive while the first one reads
        return read()

    monkeypatch.setattr(places, "_loaded", [])
    monkeypatch.setattr(places, "_read_gazetteer", slow_read)
    warming = places.warm_up()
    asking = threading.Thread(target=resolve_place, args=("Milan, Italy",))
    asking.start()
    resolve_place("Leeds, UK")
    warming.join()
    asking.join()
    assert reads == [1]
