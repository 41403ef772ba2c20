"""Amazon SES v2 behind the sender port: one raw MIME message to one recipient.

The client is built once per process from the standard AWS settings (region,
credentials, `AWS_ENDPOINT_URL_SESV2`) with botocore's retries set
explicitly.  SendEmail gets exactly one attempt from botocore: its standard
mode would otherwise retry 429 and LimitExceeded behind the shared pacer's
back and retry read timeouts (possible duplicates) without counting them.
Our own layers do that, one layer per error class (worker/sending/loop.py).
GetAccount is a read, so botocore may retry it a few times.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from worker.sending.control import AccountStatus
from worker.sending.gate import SendGate
from worker.sending.ses_errors import classify_exception

SEND_ATTEMPTS = 1  # botocore's attempts per SendEmail: the retry layers are ours
READ_ATTEMPTS = 3  # botocore's attempts per GetAccount
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_\-.@]")


@dataclass(frozen=True)
class ClientTimeouts:
    connect: float = 3.0
    read: float = 10.0


def client_config(attempts: int, timeouts: ClientTimeouts, pool: int = 32) -> Config:
    return Config(
        retries={"mode": "standard", "total_max_attempts": attempts},
        connect_timeout=timeouts.connect,
        read_timeout=timeouts.read,
        max_pool_connections=pool,
        tcp_keepalive=True,
    )


def make_client(
    attempts: int, timeouts: ClientTimeouts, session: Any = None, endpoint_url: str | None = None
) -> Any:
    """A sesv2 client; region, credentials and endpoint come from the AWS environment."""
    session = session or boto3.session.Session()
    config = client_config(attempts, timeouts)
    return session.client("sesv2", config=config, endpoint_url=endpoint_url)


def tag_value(value: str) -> str:
    """SES accepts only letters, digits, `_ - . @` in tag names and values."""
    return _TAG_UNSAFE.sub("_", value)[:256] or "_"


class SesSender:
    """Sends through `sesv2.send_email` with raw content; returns SES's MessageId.

    Failures are raised as `SendFailure` with their class; pacing, holds and
    retries belong to the gate and the send loop, not to this adapter.
    """

    def __init__(
        self,
        client: Any,
        *,
        from_address: str,
        configuration_set: str | None,
        gate: SendGate,
    ) -> None:
        self.client = client
        self.from_address = from_address
        self.configuration_set = configuration_set
        self.gate = gate

    def send(self, *, to_addr: str, raw: bytes, delivery_id: int, tags: Mapping[str, str]) -> str:
        request: dict[str, Any] = {
            "FromEmailAddress": self.from_address,
            "Destination": {"ToAddresses": [to_addr]},
            "Content": {"Raw": {"Data": raw}},
            "EmailTags": [{"Name": tag_value(k), "Value": tag_value(v)} for k, v in tags.items()],
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        try:
            response = self.client.send_email(**request)
        except (ClientError, BotoCoreError, OSError) as error:
            raise classify_exception(error) from error
        return str(response["MessageId"])


def read_account(client: Any) -> AccountStatus | None:
    """`GetAccount`, or None when it is unavailable (not implemented, not allowed, down)."""
    try:
        answer = client.get_account()
    except (ClientError, BotoCoreError, OSError):
        return None
    quota = answer.get("SendQuota") or {}
    if "MaxSendRate" not in quota:
        return None
    return AccountStatus(
        max_send_rate=float(quota["MaxSendRate"]),
        max_24_hour_send=float(quota.get("Max24HourSend", -1)),
        sent_last_24_hours=float(quota.get("SentLast24Hours", 0)),
        sending_enabled=bool(answer.get("SendingEnabled", True)),
        enforcement_status=str(answer.get("EnforcementStatus") or "HEALTHY"),
    )


def sender_address(mail_from: str) -> str:
    """The bare address of `TRIALALERTS_FROM` (SES checks it against verified identities)."""
    return parseaddr(mail_from)[1] or mail_from
