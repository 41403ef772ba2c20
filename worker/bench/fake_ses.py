"""A stand-in SES v2 endpoint over real HTTP, for tests and `trialalerts bench`.

It speaks enough of the SESv2 REST-JSON protocol for boto3: SendEmail
(`POST /v2/email/outbound-emails`) and GetAccount (`GET /v2/email/account`).
It records every SendEmail it answers (arrival time, recipient, tags, raw
message) and can be told to misbehave the ways real SES does and moto does
not: throttling (429), 5xx, MessageRejected, a paused account, a spent quota,
answers that come too late.  With `enforce_rate` it answers 429 to any send
that would put more than MaxSendRate sends into the trailing second, the way
an account's limit bites; without it there is no limit at all.

In-process: `FakeSes().start()`.  Another process:
`python -m worker.bench.fake_ses` prints its URL on the first line of stdout; the
recorded arrivals are at `GET /_fake/arrivals`.
"""

from __future__ import annotations

import base64
import itertools
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SEND_PATH = "/v2/email/outbound-emails"
ACCOUNT_PATH = "/v2/email/account"


@dataclass(frozen=True)
class Fault:
    """One scripted answer to the next SendEmail instead of success.

    `status` 0 means success (useful with `delay`); `accept` records the
    message as sent even though the answer is an error or comes too late.
    """

    status: int = 0
    code: str = ""
    message: str = ""
    delay: float = 0.0
    accept: bool = False


def too_fast() -> Fault:
    return Fault(429, "TooManyRequestsException", "Maximum sending rate exceeded.")


def server_error(status: int = 500) -> Fault:
    return Fault(status, "InternalFailure", "The request processing has failed.")


def rejected() -> Fault:
    return Fault(400, "MessageRejected", "Email address is not verified.")


def paused_account() -> Fault:
    return Fault(400, "SendingPausedException", "Sending is paused for this account.")


def quota_spent() -> Fault:
    return Fault(400, "LimitExceededException", "Daily message quota exceeded.")


def late(seconds: float, accept: bool = True) -> Fault:
    """An answer slower than the client's read timeout; SES did (or did not) take it."""
    return Fault(0, delay=seconds, accept=accept)


@dataclass(frozen=True)
class Arrival:
    at: float  # time.time() when the request arrived
    to: tuple[str, ...]
    tags: dict[str, str]
    raw: bytes
    message_id: str
    configuration_set: str | None
    size: int = 0  # bytes of the raw message


@dataclass
class Account:
    max_send_rate: float = 14.0
    max_24_hour_send: float = 50_000.0
    sent_last_24_hours: float = 0.0
    sending_enabled: bool = True
    enforcement_status: str = "HEALTHY"

    def as_json(self) -> dict[str, Any]:
        return {
            "DedicatedIpAutoWarmupEnabled": False,
            "EnforcementStatus": self.enforcement_status,
            "ProductionAccessEnabled": True,
            "SendingEnabled": self.sending_enabled,
            "SendQuota": {
                "Max24HourSend": self.max_24_hour_send,
                "MaxSendRate": self.max_send_rate,
                "SentLast24Hours": self.sent_last_24_hours,
            },
        }


@dataclass
class FakeSes:
    """The endpoint's state; `account=None` makes GetAccount unavailable (404, like moto)."""

    account: Account | None = field(default_factory=Account)
    keep_raw: bool = True
    faults: deque[Fault] = field(default_factory=deque)
    arrivals: list[Arrival] = field(default_factory=list)
    paused: bool = False  # every SendEmail answers SendingPausedException
    enforce_rate: bool = False
    on_send: Callable[[Arrival], None] | None = None  # called after each accepted send
    account_reads: int = 0
    send_requests: int = 0  # every SendEmail that arrived, answered or not
    request_times: list[float] = field(default_factory=list)  # time.time() of each of them
    throttled: int = 0  # 429s answered because of `enforce_rate`
    _window: deque[float] = field(default_factory=deque, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _ids: Any = field(default_factory=lambda: itertools.count(1), repr=False)
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeSes:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server((host, port), handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def script(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def sent_to(self) -> list[str]:
        return [address for arrival in self.arrivals for address in arrival.to]

    def _next_fault(self) -> Fault | None:
        with self._lock:
            self.send_requests += 1
            self.request_times.append(time.time())
            if self.paused:
                return paused_account()
            if self.faults:
                return self.faults.popleft()
            account = self.account
            if account and 0 <= account.max_24_hour_send <= account.sent_last_24_hours:
                return quota_spent()
            if account and self.enforce_rate:
                now = time.time()
                while self._window and self._window[0] <= now - 1.0:
                    self._window.popleft()
                if len(self._window) >= account.max_send_rate:
                    self.throttled += 1
                    return too_fast()
                self._window.append(now)
            return None

    def _accept(self, body: dict[str, Any]) -> str:
        message_id = f"fake-{next(self._ids):010d}"
        encoded = body.get("Content", {}).get("Raw", {}).get("Data", "")
        raw = base64.b64decode(encoded) if self.keep_raw else b""
        tags = {t.get("Name", ""): t.get("Value", "") for t in body.get("EmailTags") or []}
        arrival = Arrival(
            at=time.time(),
            to=tuple(body.get("Destination", {}).get("ToAddresses", [])),
            tags=tags,
            raw=raw,
            message_id=message_id,
            configuration_set=body.get("ConfigurationSetName"),
            size=len(encoded) * 3 // 4,
        )
        with self._lock:
            self.arrivals.append(arrival)
            if self.account is not None:
                self.account.sent_last_24_hours += 1
        if self.on_send is not None:
            self.on_send(arrival)
        return message_id


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # many workers connect at once; the default backlog is 5


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes
    fake: FakeSes

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return None

    def _reply(self, status: int, payload: Any, error_code: str | None = None) -> None:
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if error_code:
                self.send_header("x-amzn-ErrorType", error_code)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.startswith(ACCOUNT_PATH):
            self.fake.account_reads += 1
            account = self.fake.account
            if account is None:
                self._reply(404, {"message": "Not Found"}, "NotFoundException")
                return
            answer = account.as_json()
            if self.fake.paused:
                answer["SendingEnabled"] = False
            self._reply(200, answer)
        elif self.path.startswith("/_fake/arrivals"):
            fake = self.fake
            arrivals = [[a.at, list(a.to), a.tags, a.message_id, a.size] for a in fake.arrivals]
            answer = {
                "arrivals": arrivals,
                "requests": fake.request_times,
                "throttled": fake.throttled,
            }
            self._reply(200, answer)
        else:
            self._reply(404, {"message": f"no route {self.path}"}, "UnknownOperationException")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        if len(data) < length:  # the client went away mid-request: SES would never see it
            self.close_connection = True
            return
        body = json.loads(data or b"{}")
        if self.path.startswith("/_fake/script"):
            self.fake.script(*(Fault(**fault) for fault in body))
            self._reply(200, {})
            return
        if not self.path.startswith(SEND_PATH):
            self._reply(404, {"message": f"no route {self.path}"}, "UnknownOperationException")
            return
        fault = self.fake._next_fault()
        if fault is None:
            self._reply(200, {"MessageId": self.fake._accept(body)})
            return
        message_id = self.fake._accept(body) if fault.accept or fault.status == 0 else None
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status == 0:
            self._reply(200, {"MessageId": message_id})
        else:
            self._reply(fault.status, {"message": fault.message}, fault.code)


def busiest_second(times: list[float]) -> int:
    """The most requests inside any sliding one-second window [t, t + 1)."""
    ordered = sorted(times)
    best = start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    """Serve until stdin closes; print the URL first.

    `--max-rate R` answers GetAccount with MaxSendRate R and enforces it;
    without it GetAccount is unavailable and there is no limit.
    """
    args = sys.argv[1:]
    account = None
    if "--max-rate" in args:
        account = Account(max_send_rate=float(args[args.index("--max-rate") + 1]))
    fake = FakeSes(account=account, keep_raw=False, enforce_rate=account is not None).start()
    print(fake.url, flush=True)
    sys.stdin.read()
    fake.stop()


if __name__ == "__main__":
    main()
