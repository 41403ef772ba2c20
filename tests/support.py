"""Test helpers: the real registry records in tests/data/ctgov and events wrapping them."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

CTGOV = Path(__file__).resolve().parent / "data" / "ctgov"
UPDATED = "gov.clinicaltrials.study.updated"


@cache
def _record_text(name: str) -> str:
    return (CTGOV / f"{name}.json").read_text()


def record(name: str) -> dict[str, Any]:
    """A fresh copy of a real record (tests may mutate it)."""
    return json.loads(_record_text(name))


def real_record_names() -> list[str]:
    return sorted(p.stem for p in CTGOV.glob("NCT*.json"))


def event(
    data: dict[str, Any] | None,
    event_id: str,
    *,
    time: str = "2026-06-27T09:00:00Z",
    type: str = UPDATED,
    source: str = "https://clinicaltrials.gov",
    subject: str | None = None,
) -> dict[str, Any]:
    """A CloudEvent wrapping a study record."""
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": type,
        "time": time,
        "datacontenttype": "application/json",
    }
    if data is not None:
        envelope["data"] = data
        nct_id = data.get("protocolSection", {}).get("identificationModule", {}).get("nctId")
        if nct_id:
            envelope["subject"] = nct_id
    if subject:
        envelope["subject"] = subject
    return envelope


def with_changes(data: dict[str, Any], **status: Any) -> dict[str, Any]:
    """A copy of `data` with statusModule fields replaced."""
    changed = copy.deepcopy(data)
    changed["protocolSection"]["statusModule"].update(status)
    return changed


def write_jsonl(path: Path, events: list[Any]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path
