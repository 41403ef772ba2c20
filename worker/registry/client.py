"""HTTP to the ClinicalTrials.gov API v2: paced, retried, and strict about what it takes.

One retry layer (tenacity) for everything that may pass by itself: 429
(waiting what Retry-After asks), 5xx, timeouts, broken connections, and
answers that are not the JSON expected (each is handed to `on_bad_page`
first, so it is kept).  Backoff is exponential with jitter and bounded; when
the attempts are spent the poll stops loudly with `RegistryUnavailable`.
Any other 4xx means the request itself is wrong: `RegistryError`, at once.
Every attempt, retries included, waits its turn under `max_rps`.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TypeVar

import httpx
import tenacity

from worker.core.config import CtgovSettings
from worker.core.metrics import count
from worker.registry.api import BadPage, Page, Version, parse_page, parse_version

log = logging.getLogger(__name__)
T = TypeVar("T")
TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=10.0, pool=10.0)
MAX_RETRY_AFTER = 900.0  # seconds: a longer Retry-After is cut to this
BACKOFF_CEILING = 64  # the longest backoff, in multiples of the first


class RegistryError(RuntimeError):
    """The registry refused or could not serve the poll; the message names the URL."""


class RegistryUnavailable(RegistryError):
    """Retries are spent: the registry is down, throttling hard, or keeps sending bad pages."""


class _Transient(Exception):
    def __init__(self, url: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.retry_after = retry_after


def user_agent(contact: str) -> str:
    try:
        release = version("trialalerts")
    except PackageNotFoundError:
        release = "0"
    return f"Trialalerts/{release} (clinical-trial registry alerts; +{contact})"


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds (a number or an HTTP date), or None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - (now or time.time())
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER) if math.isfinite(seconds) else None


def backoff(first: float, attempt: int) -> float:
    """Exponential (first, 2×, 4×, … up to 64× first) plus up to `first` of random jitter."""
    return min(first * 2 ** (attempt - 1), first * BACKOFF_CEILING) + random.uniform(0, first)


class Throttle:
    """At most `rate` request starts a second, in this process."""

    def __init__(self, rate: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self._interval = 0.0 if math.isinf(rate) else 1.0 / rate
        self._next = 0.0
        self._sleep = sleep
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            self._sleep(start - now)


class RegistryClient:
    def __init__(
        self,
        settings: CtgovSettings,
        contact: str,
        on_bad_page: Callable[[str, BadPage], None] = lambda url, bad: None,
        timeout: httpx.Timeout = TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = settings.api_url
        self._settings = settings
        self._on_bad_page = on_bad_page
        self._sleep = sleep
        self._throttle = Throttle(settings.max_rps, sleep)
        self._http = httpx.Client(
            timeout=timeout,
            follow_redirects=True,
            headers={"User-Agent": user_agent(contact), "Accept": "application/json"},
        )
        self.requests = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def version(self) -> Version:
        return self._get("/version", {}, parse_version)[1]

    def pages(self, params: dict[str, str]) -> Iterator[tuple[str, Page]]:
        """Every page of a query, following nextPageToken with the same parameters."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            url, page = self._get("/studies", params | ({"pageToken": token} if token else {}),
                                  parse_page)  # fmt: skip
            yield url, page
            if page.next_token is None:
                return
            if page.next_token in seen:
                raise RegistryError(f"{url}: nextPageToken repeats an earlier one")
            seen.add(page.next_token)
            token = page.next_token

    def _get(
        self, path: str, params: dict[str, str], parse: Callable[[bytes, str], T]
    ) -> tuple[str, T]:
        url = str(httpx.URL(self.base_url + path, params=params))
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            stop=tenacity.stop_after_attempt(self._settings.retries + 1),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return url, retrying(self._attempt, url, parse)
        except _Transient as error:
            attempts = self._settings.retries + 1
            log.error("giving up after %d attempts: %s", attempts, error)
            raise RegistryUnavailable(f"gave up after {attempts} attempts: {error}") from None

    def _attempt(self, url: str, parse: Callable[[bytes, str], T]) -> T:
        self._throttle.wait()
        self.requests += 1
        try:
            response = self._http.get(url)
        except httpx.TimeoutException as error:
            count("trialalerts_ctgov_requests_total", status="timeout")
            raise _Transient(url, f"timed out ({type(error).__name__})") from None
        except httpx.TransportError as error:
            count("trialalerts_ctgov_requests_total", status="connection_error")
            raise _Transient(url, f"connection failed ({type(error).__name__}: {error})") from None
        status = response.status_code
        count("trialalerts_ctgov_requests_total", status=str(status))
        if status == 429 or status >= 500:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise _Transient(url, f"HTTP {status}", wait)
        if status != 200:
            raise RegistryError(f"{url}: HTTP {status}: {response.text[:200]}")
        try:
            return parse(response.content, response.headers.get("Content-Type", ""))
        except BadPage as bad:
            count("trialalerts_ctgov_bad_pages_total")
            log.warning("%s: %s", url, bad.reason)
            self._on_bad_page(url, bad)
            raise _Transient(url, bad.reason) from None

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Transient) and error.retry_after is not None:
            return error.retry_after
        return backoff(self._settings.backoff_seconds, state.attempt_number)

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("attempt %d failed, retrying in %.2f s: %s", state.attempt_number, wait, error)
