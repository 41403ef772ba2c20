"""A stand-in ClinicalTrials.gov API v2 over real HTTP: exactly the subset DESIGN.md allows.

`/version`, and `/studies` with `format=json`, `pageSize` (1 to 1000),
`filter.advanced=AREA[LastUpdatePostDate]RANGE[YYYY-MM-DD,MAX]`,
`sort=LastUpdatePostDate:asc`, `filter.ids` and `pageToken`; anything else
is a 400, so a client relying on more than the subset fails here first.  A
page token is only good with the parameters of the page that gave it.

Studies live in memory, serialized once, so serving a page costs little
beside what the client does (the bench compares the two).  Faults are queued
with `fail` and each is spent on the next matching request: 429 with
Retry-After, 5xx, an HTML page behind a 200, a JSON body cut short, a
connection closed mid-body or before any answer, an empty page.  The server
runs on a thread of the calling process.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

DATA_TIMESTAMP = "2026-06-28T09:00:04"
PREFIX = "/api/v2"
_RANGE = re.compile(r"^AREA\[LastUpdatePostDate\]RANGE\[(\d{4}-\d{2}-\d{2}),MAX\]$")
_ALLOWED = {"format", "pageSize", "pageToken", "filter.advanced", "sort", "filter.ids"}
HTML_ERROR = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"


@dataclass(frozen=True)
class Fault:
    """One bad answer: 429, 500, 503, html, truncated, cut, drop or empty."""

    kind: str
    retry_after: str | None = None
    path: str = "/studies"


@dataclass(frozen=True)
class Request:
    path: str
    params: dict[str, str]
    status: int  # 0: the connection was closed without an answer
    user_agent: str = ""
    at: float = field(default_factory=time.monotonic)


def variant(
    record: dict[str, Any], nct_id: str, day: str, status: str | None = None
) -> dict[str, Any]:
    """A copy of a real record as another study, last updated (and posted) on `day`."""
    study = copy.deepcopy(record)
    protocol = study.setdefault("protocolSection", {})
    protocol.setdefault("identificationModule", {})["nctId"] = nct_id
    module = protocol.setdefault("statusModule", {})
    module["lastUpdateSubmitDate"] = day
    module["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}
    if status:
        module["overallStatus"] = status
    return study


def _post_date(record: Any) -> str:
    try:
        return str(record["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"])
    except (KeyError, TypeError):
        return ""


class FakeCtgov:
    def __init__(self, data_timestamp: str = DATA_TIMESTAMP, delay: float = 0.0) -> None:
        self.data_timestamp = data_timestamp
        self.delay = delay  # seconds before each answer
        self.requests: list[Request] = []
        self._studies: dict[str, tuple[str, bytes]] = {}  # key -> (post date, record bytes)
        self._sorted: list[tuple[str, str]] | None = None
        self._faults: deque[tuple[int, Fault]] = deque()  # (answered before it, fault)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._tokens = 0

    # -- the data and the faults -----------------------------------------------------------

    def put(self, *records: dict[str, Any], key: str | None = None) -> None:
        """Add or replace studies (by NCT id; a record without one needs a `key`)."""
        with self._lock:
            for record in records:
                name = key or record["protocolSection"]["identificationModule"]["nctId"]
                self._studies[name] = (_post_date(record), orjson.dumps(record))
            self._sorted = None

    def fail(self, *faults: Fault, after: int = 0) -> None:
        """Queue faults, each for one request of its path, once `after` more have been answered."""
        with self._lock:
            for fault in faults:
                self._faults.append((self._answered(fault.path) + after, fault))

    def pending_faults(self) -> int:
        return len(self._faults)

    def studies_requests(self) -> list[Request]:
        return [request for request in self.requests if request.path == "/studies"]

    # -- serving ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}{PREFIX}"

    def start(self) -> FakeCtgov:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeCtgov:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answered(self, path: str) -> int:
        return sum(1 for request in self.requests if request.path == path)

    def _fault_for(self, path: str) -> Fault | None:
        with self._lock:
            answered = self._answered(path)
            for entry in self._faults:
                start, fault = entry
                if fault.path == path and answered >= start:
                    self._faults.remove(entry)
                    return fault
        return None

    def _ordered(self) -> list[tuple[str, str]]:
        with self._lock:
            if self._sorted is None:
                self._sorted = sorted((day, key) for key, (day, _) in self._studies.items())
            return self._sorted

    def answer_studies(self, params: dict[str, str], empty: bool) -> tuple[int, bytes]:
        """(status, body) of a /studies request, or a 400 naming what is outside the subset."""
        unknown = set(params) - _ALLOWED
        if unknown:
            return 400, f"unknown parameter(s): {', '.join(sorted(unknown))}".encode()
        if params.get("format") != "json":
            return 400, b"format=json is required"
        try:
            size = int(params.get("pageSize", "10"))
        except ValueError:
            return 400, b"pageSize is not a number"
        if not 1 <= size <= 1000:
            return 400, b"pageSize must be between 1 and 1000"
        if params.get("sort", "LastUpdatePostDate:asc") != "LastUpdatePostDate:asc":
            return 400, b"sort: only LastUpdatePostDate:asc"
        since = ""
        if "filter.advanced" in params:
            found = _RANGE.match(params["filter.advanced"])
            if not found:
                return 400, b"filter.advanced: only AREA[LastUpdatePostDate]RANGE[date,MAX]"
            since = found.group(1)
        query = {name: value for name, value in params.items() if name != "pageToken"}
        signature = hashlib.sha256(orjson.dumps(query, option=orjson.OPT_SORT_KEYS)).hexdigest()
        offset = 0
        if "pageToken" in params:
            try:
                token = orjson.loads(base64.urlsafe_b64decode(params["pageToken"]))
                offset, signed = int(token["o"]), token["q"]
            except (ValueError, KeyError, TypeError):
                return 400, b"pageToken is not one of ours"
            if signed != signature[:16]:
                return 400, b"pageToken belongs to other parameters"
        keys = [key for day, key in self._ordered() if day >= since]
        if "filter.ids" in params:
            wanted = {nct_id.strip().upper() for nct_id in params["filter.ids"].split(",")}
            keys = [key for key in keys if key in wanted]
        page = [] if empty else keys[offset : offset + size]
        end = offset + len(page)
        body = b'{"studies":[' + b",".join(self._studies[key][1] for key in page) + b"]"
        if empty or end < len(keys):
            self._tokens += 1
            token_bytes = orjson.dumps({"o": end, "q": signature[:16], "n": self._tokens})
            body += b',"nextPageToken":"' + base64.urlsafe_b64encode(token_bytes) + b'"'
        return 200, body + b"}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_fake: FakeCtgov

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook
        fake = self.server_fake
        parts = urlsplit(self.path)
        path = parts.path.removeprefix(PREFIX)
        params = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        if fake.delay:
            time.sleep(fake.delay)
        fault = fake._fault_for(path)
        status, body, kind = self._answer(fake, path, params, fault)
        agent = self.headers.get("User-Agent", "")
        fake.requests.append(Request(path, params, 0 if kind == "drop" else status, agent))
        if kind == "drop":
            self.close_connection = True
            return
        self.send_response(status)
        html = kind == "html"
        self.send_header("Content-Type", "text/html" if html else "application/json")
        if fault is not None and fault.retry_after is not None:
            self.send_header("Retry-After", fault.retry_after)
        if kind == "truncated":
            body = body[: len(body) // 2]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "cut":
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)

    def _answer(
        self, fake: FakeCtgov, path: str, params: dict[str, str], fault: Fault | None
    ) -> tuple[int, bytes, str]:
        kind = fault.kind if fault else ""
        if kind.isdigit():
            return int(kind), b'{"message": "fault"}', kind
        if kind == "html":
            return 200, HTML_ERROR, kind
        if path == "/version":
            answer = {"apiVersion": "2.0.5", "dataTimestamp": fake.data_timestamp}
            return 200, orjson.dumps(answer), kind
        if path == "/studies":
            status, body = fake.answer_studies(params, empty=kind == "empty")
            return status, body, kind
        return 404, b'{"message": "not found"}', kind
