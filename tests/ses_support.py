"""SES over real HTTP for tests: moto's server, the fault-injecting stand-in, queued deliveries.

Fixtures (import them into a test module, or list this module in `pytest_plugins`):
- `moto_url`: one moto server per test session on a free loopback port.
- `moto_ses`: that server reset, the AWS_* variables pointing at it (every
  service: SES, SNS, SQS), the sender identity verified; yields the URL.
- `fake_ses`: worker.bench.fake_ses.FakeSes (SendEmail + GetAccount, scripted
  faults) with AWS_ENDPOINT_URL_SESV2 pointing at it; yields the FakeSes.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from worker.bench.fake_ses import FakeSes
from worker.bench.sample_deliveries import queue_deliveries as _queue
from worker.core.runtime import Runtime

SENDER = "alerts@trialalerts.example"
REGION = "us-east-1"


def use_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str) -> None:
    """Point boto3 at `endpoint` with throw-away credentials, whatever the machine has."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL_SESV2"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_ses(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A clean moto with the sender identity verified and AWS_* pointing at it."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"))
    use_aws(monkeypatch, tmp_path, moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", moto_url)
    boto3.client("sesv2").create_email_identity(EmailIdentity=SENDER)
    return moto_url


@pytest.fixture
def fake_ses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeSes]:
    fake = FakeSes().start()
    use_aws(monkeypatch, tmp_path, fake.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", fake.url)
    yield fake
    fake.stop()


def moto_sent(url: str) -> list[dict[str, Any]]:
    """Raw messages moto's SES accepted: [{"id", "source", "destinations", "raw_data"}]."""
    with urllib.request.urlopen(f"{url}/moto-api/data.json") as answer:
        data = json.load(answer)
    return list(data.get("ses", {}).get("RawMessage", []))


def parse(raw: str | bytes) -> EmailMessage:
    data = raw.encode() if isinstance(raw, str) else raw
    return message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def queue_deliveries(runtime: Runtime, count: int) -> list[int]:
    """`count` readers with one queued daily digest each (see worker.bench.sample_deliveries)."""
    return _queue(runtime.sessions, count)
