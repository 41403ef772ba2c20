"""A qualifier is part of a disease's name, end to end through the CLI on both databases.

"Hemophilia A" must never bring a Hemophilia B study, nor "vitamin a
deficiency" a vitamin D one; the right studies still arrive.
"""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from tests.integration.cli.test_cli import trialalerts
from tests.support import event, record, write_jsonl

STUDIES = {
    "NCT90000001": ["Hemophilia A"],
    "NCT90000002": ["Hemophilia B"],
    "NCT90000003": ["Vitamin D Deficiency"],
    "NCT90000004": ["Vitamin A Deficiency"],
    "NCT90000005": ["Diabetes Mellitus, Type 2"],
    "NCT90000006": ["Hepatitis B, Chronic"],
    "NCT90000007": ["Influenza B"],
}
WANTED = {
    "hemo@example.org": ("Hemophilia A", {"NCT90000001"}),
    "vita@example.org": ("vitamin a deficiency", {"NCT90000004"}),
    "type1@example.org": ("type 1 diabetes", set()),
    "hepa@example.org": ("hepatitis a", set()),
    "flu@example.org": ("influenza a", set()),
    "any@example.org": ("hemophilia", {"NCT90000001", "NCT90000002"}),
}


def _study(nct_id: str, conditions: list[str]) -> dict[str, Any]:
    data = record("NCT04267848")
    data["protocolSection"]["identificationModule"]["nctId"] = nct_id
    data["protocolSection"]["conditionsModule"] = {"conditions": conditions}
    data.pop("derivedSection", None)
    return data


def _studies_mailed(outbox: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in outbox.glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        found[str(message["To"])] = {nct for nct in STUDIES if nct in text}
    return found


def test_qualified_conditions_bring_only_their_own_studies(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        "TRIALALERTS_DATABASE_URL": database_url,
        "TRIALALERTS_SECRET_KEY": "k" * 32,
        "TRIALALERTS_OUTBOX": str(tmp_path / "outbox"),
    }
    if database_url.startswith("postgresql"):
        assert trialalerts("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    rows = [
        {"email": email, "kind": "condition", "condition": term, "frequency": "instant"}
        for email, (term, _) in WANTED.items()
    ]
    subscriptions = tmp_path / "subscriptions.jsonl"
    subscriptions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert (
        trialalerts("subscribers", "import", str(subscriptions), cwd=tmp_path, env=env).returncode
        == 0
    )
    events = write_jsonl(
        tmp_path / "events.jsonl",
        [event(_study(nct, names), f"q-{nct}", type="gov.clinicaltrials.study.created")
         for nct, names in STUDIES.items()],
    )  # fmt: skip
    assert trialalerts("publish", str(events), cwd=tmp_path, env=env).returncode == 0
    run = trialalerts("run", "--until-idle", "--now", "2026-06-27T10:00:00Z", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr

    mailed = _studies_mailed(tmp_path / "outbox")
    assert mailed == {email: nct_ids for email, (_, nct_ids) in WANTED.items() if nct_ids}
