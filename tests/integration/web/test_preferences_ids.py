"""Ids typed into the preferences form: ASCII digits within range, anything else a plain 400.

`int()` takes unicode digits ("²" fails, "٣" is 3) and PostgreSQL's BIGINT
refuses a 30-digit number with an error: neither may become a 500, and
neither may reach a row.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.integration.web.test_preferences import _csrf, _post, client, people
from tests.integration.web.test_unsubscribe import snapshot
from worker.core.runtime import Runtime

__all__ = ["client", "people"]  # fixtures

NOT_IDS = ["²", "٣", "１", "1" * 30, str(2**63), "0", "-1", "+1", " 1", "1.0", "0x1"]


@pytest.mark.parametrize("action", ["stop", "restart", "frequency"])
def test_a_subscription_that_is_no_id_gets_a_plain_400_and_changes_nothing(
    runtime: Runtime, client: FlaskClient, people: dict[str, Any], action: str
) -> None:
    url = people["ada-page"]
    csrf = _csrf(client.get(url).get_data(as_text=True))
    before = snapshot(runtime)
    for text in NOT_IDS:
        answer = _post(client, url, csrf, action=action, subscription=text, frequency="weekly")
        assert answer.status_code == 400, text
        assert "No alert was chosen." in answer.get_data(as_text=True), text
    assert snapshot(runtime) == before


def test_the_largest_id_is_looked_up_not_refused(
    runtime: Runtime, client: FlaskClient, people: dict[str, Any]
) -> None:
    url = people["ada-page"]
    csrf = _csrf(client.get(url).get_data(as_text=True))
    answer = _post(client, url, csrf, action="stop", subscription=str(2**63 - 1))
    assert answer.status_code == 404
