"""A fetched record as a change event: the id says which version of which study it is.

`NCT…@<lastUpdatePostDate>#<first 16 hex of the record's sha256>`: the same
record fetched twice (the last day is re-read every poll, a killed poller's
successor re-reads its last pages) gets the same id, so event dedupe drops
it; any change to the record, even one with no new update date (a flip to
UNKNOWN), gets a new id.  The hash is over the record serialized with sorted
keys, so it does not depend on how the registry orders them; those same bytes
are the event's `data`, serialized once.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime
from typing import Any

import orjson

from worker.ingest.events import RawItem
from worker.ingest.studies import InvalidStudy, nct_id_of

CREATED = "gov.clinicaltrials.study.created"
UPDATED = "gov.clinicaltrials.study.updated"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def nct_id_or_none(record: Any) -> str | None:
    try:
        return nct_id_of(record)
    except InvalidStudy:
        return None


def post_date(record: Any) -> str | None:
    """statusModule.lastUpdatePostDateStruct.date, when it is a whole calendar day."""
    try:
        value = record["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]
        return value if _DAY.match(value) and date.fromisoformat(value) else None
    except (KeyError, TypeError, ValueError):
        return None


def post_day(record: Any) -> date | None:
    found = post_date(record)
    return date.fromisoformat(found) if found else None


def event_id(nct_id: str | None, day: str | None, canonical: bytes) -> str:
    digest = hashlib.sha256(canonical).hexdigest()[:16]
    return f"{nct_id or 'unknown'}@{day or 'undated'}#{digest}"


def study_item(record: Any, source: str, known: bool, fetched_at: datetime, where: str) -> RawItem:
    """The CloudEvent of one record, ready for the publish path (which validates it)."""
    canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    nct_id = nct_id_or_none(record)
    stamp = fetched_at.astimezone(UTC).isoformat(timespec="microseconds")
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id(nct_id, post_date(record), canonical),
        "source": source,
        "type": UPDATED if known else CREATED,
        "time": stamp.replace("+00:00", "Z"),
        "datacontenttype": "application/json",
    }
    if nct_id:
        envelope["subject"] = nct_id
    text = orjson.dumps(envelope)[:-1] + b',"data":' + canonical + b"}"
    return RawItem(where, None, envelope | {"data": record}, text.decode())
