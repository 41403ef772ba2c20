"""Each poll of the SES feedback queue says how long its oldest message waited, for the alerts."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tests.feedback_support import FeedbackRoute, bounce
from tests.ses_support import moto_url as moto_url  # noqa: F401 - fixture
from tests.ses_support import use_aws
from worker.core.runtime import Runtime
from worker.feedback.poll import oldest_age_seconds, poll_feedback


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    use_aws(monkeypatch, tmp_path, moto_url)
    return moto_url


def test_the_oldest_message_of_a_batch_counts() -> None:
    messages = [
        {"Attributes": {"SentTimestamp": "1000000"}},
        {"Attributes": {"SentTimestamp": "990000"}},
        {"Attributes": {}},  # no timestamp: not counted
    ]
    assert oldest_age_seconds(messages, 1000.0) == 10.0
    assert oldest_age_seconds([], 1000.0) == 0.0


def test_a_poll_sets_the_age_of_what_it_read_and_zero_when_the_queue_is_empty(
    runtime: Runtime, aws: str
) -> None:
    route = FeedbackRoute.create(raw=True)
    runtime.settings = replace(runtime.settings, feedback_queue_url=route.queue_url)
    route.send_body(json.dumps(bounce(["ada@example.org"])))
    time.sleep(1.2)
    before = time.time()
    assert poll_feedback(runtime, wait_seconds=0).received == 1
    assert (REGISTRY.get_sample_value("trialalerts_feedback_oldest_age_seconds") or 0) >= 1.0
    assert (REGISTRY.get_sample_value("trialalerts_feedback_poll_timestamp_seconds") or 0) >= before
    poll_feedback(runtime, wait_seconds=0)
    assert REGISTRY.get_sample_value("trialalerts_feedback_oldest_age_seconds") == 0.0
