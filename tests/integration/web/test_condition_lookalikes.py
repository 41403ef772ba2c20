"""A web address written with look-alike characters is no disease name either.

Mail clients and browsers read compatibility characters (fullwidth letters,
"⒈" for "1.", circled or superscript digits) as the plain ones, and an
accent written as a separate combining mark does not end a word. Through the
sign-up form on both databases: each is refused inline, no row, no mail.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from worker.core.models import Signup
from worker.core.runtime import Runtime, fixed_clock
from worker.subscriptions.free_text import disease_name
from worker.web.app import create_app

NOW = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)

LOOK_ALIKES = [
    "asthma, see cafe\u0301.example",  # "café.example" with a combining accent
    "asthma, see evil.\u0307example",  # a combining dot after the dot
    "asthma, see evil\u2488example",  # "⒈" is "1." to a browser
    "asthma, see \uff48\uff54\uff54\uff50\uff53\uff1a\uff0f\uff0fevil",  # fullwidth https://
    "asthma, call \u2460\u2461\u2462\u2463\u2464\u2465\u2466",  # circled digits
    "asthma, call \u2075\u2075\u2075\u00b9\u00b2\u00b3\u2074",  # superscript digits
]
STILL_DISEASES = [
    "Ménière's disease",
    "Me\u0301nie\u0300re disease",
    "Sjögren syndrome",
    "H. pylori infection",
    "Vitamin B\u2081\u2082 deficiency",
    "Stage \u2163 lung cancer",
]


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    runtime.clock = fixed_clock(NOW)
    return create_app(runtime).test_client()


@pytest.mark.parametrize("condition", LOOK_ALIKES)
def test_a_look_alike_address_is_refused_at_sign_up(
    runtime: Runtime, client: FlaskClient, condition: str
) -> None:
    answer = client.post("/signup", data={"email": "ada@example.org", "condition": condition})
    assert answer.status_code == 400
    assert "a condition is the name of a disease" in answer.get_data(as_text=True)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Signup)) == 0


@pytest.mark.parametrize("condition", STILL_DISEASES)
def test_names_with_accents_and_such_characters_stay_disease_names(condition: str) -> None:
    assert disease_name(condition) == condition
