"""A fetched record as an event: its id names the study, its post date and its content."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

import orjson

from tests.support import record
from worker.ingest.events import StudyEvent, validate
from worker.registry.events import CREATED, UPDATED, post_day, study_item

NOW = datetime(2026, 6, 28, 10, tzinfo=UTC)
SOURCE = "https://clinicaltrials.gov/api/v2"


def test_the_event_id_is_nct_at_post_date_hash_of_the_record() -> None:
    study = record("NCT04267848")
    item = study_item(study, SOURCE, known=False, fetched_at=NOW, where="page 1 study 1")
    digest = hashlib.sha256(orjson.dumps(study, option=orjson.OPT_SORT_KEYS)).hexdigest()
    assert item.value["id"] == f"NCT04267848@2025-09-10#{digest[:16]}"
    assert item.value["type"] == CREATED and item.value["subject"] == "NCT04267848"
    assert item.value["source"] == SOURCE and item.value["time"] == "2026-06-28T10:00:00.000000Z"
    assert orjson.loads(item.text or "") == orjson.loads(orjson.dumps(item.value))


def test_key_order_does_not_change_the_id_any_content_change_does() -> None:
    study = record("NCT03475563")
    reordered = dict(reversed(list(study.items())))
    flipped = record("NCT03475563")
    flipped["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"

    def ident(data: dict) -> str:
        return study_item(data, SOURCE, True, NOW, "w").value["id"]

    assert ident(study) == ident(reordered)
    assert ident(study) != ident(flipped)
    assert ident(study).split("#")[0] == ident(flipped).split("#")[0] == "NCT03475563@2019-11-27"


def test_a_known_study_is_updated_and_the_event_passes_validation() -> None:
    item = study_item(record("NCT02210780"), SOURCE, known=True, fetched_at=NOW, where="w")
    event = validate(item)
    assert isinstance(event, StudyEvent) and event.type == UPDATED
    assert event.nct_id == "NCT02210780" and event.last_update == "2020-04-23"


def test_a_study_without_an_nct_id_is_still_an_item_and_validation_rejects_it() -> None:
    study = record("NCT00973089")
    del study["protocolSection"]["identificationModule"]["nctId"]
    item = study_item(study, SOURCE, known=False, fetched_at=NOW, where="url study 3")
    assert item.value["id"].startswith("unknown@2015-08-19#") and "subject" not in item.value
    rejection = validate(item)
    assert not isinstance(rejection, StudyEvent) and "nctId" in rejection.reason
    assert validate(study_item("not a study", SOURCE, False, NOW, "w")).where == "w"


def test_the_post_day_is_a_whole_day_or_nothing() -> None:
    assert post_day(record("NCT06171568")) == date(2023, 12, 14)
    assert post_day(record("NCT02576665.partial")) is None  # field-limited record
    partial = record("NCT06171568")
    partial["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] = "2023-12"
    assert post_day(partial) is None
    assert post_day({"protocolSection": {"statusModule": {"lastUpdatePostDateStruct": 7}}}) is None
    assert post_day([]) is None
