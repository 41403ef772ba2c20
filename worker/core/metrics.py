"""Prometheus counters of our own, beside dramatiq's middleware metrics.

prometheus_client must be imported after dramatiq's Prometheus middleware has
set PROMETHEUS_MULTIPROC_DIR in a worker process, or the values stay private
to that process; so metrics are created on first use, never at import.

A gauge shows the value written last by any worker process ("mostrecent"):
the highest ever written would keep an alert firing after the cause is gone.
"""

from __future__ import annotations

import threading
from typing import Any

# name → (kind, help, label names)
DEFINITIONS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "trialalerts_events_total": ("counter", "Events published, by outcome.", ("outcome",)),
    "trialalerts_ingested_total": ("counter", "Events ingested, by outcome.", ("outcome",)),
    "trialalerts_changes_total": ("counter", "Classified study changes written.", ()),
    "trialalerts_notifications_total": ("counter", "Pending notifications written.", ()),
    "trialalerts_digests_total": ("counter", "Digest windows built, by state.", ("state",)),
    "trialalerts_sends_total": ("counter", "Delivery attempts, by outcome.", ("outcome",)),
    "trialalerts_ses_errors_total": ("counter", "SES errors, by class.", ("error_class",)),
    "trialalerts_pacer_rate": ("gauge", "Shared send rate limit in sends/s.", ()),
    # Read from the database and Redis by every scheduler on every tick (worker.queue.watch).
    "trialalerts_deliveries": ("gauge", "Deliveries not yet done, by state.", ("state",)),
    "trialalerts_delivery_oldest_age_seconds": (
        "gauge",
        "Time the oldest delivery in this state has been in it.",
        ("state",),
    ),
    "trialalerts_digest_oldest_unsent_window_seconds": (
        "gauge",
        "Time since the due time of the oldest digest not yet sent.",
        (),
    ),
    "trialalerts_dead_letters": ("gauge", "Dead letters not replayed.", ()),
    "trialalerts_sending_hold_seconds": (
        "gauge",
        "Time sending has been held, by reason (0: not held).",
        ("reason",),
    ),
    "trialalerts_sending_lease_seconds": ("gauge", "TRIALALERTS_SENDING_LEASE_SECONDS.", ()),
    "trialalerts_scheduler_tick_timestamp_seconds": ("gauge", "Last scheduler tick.", ()),
    "trialalerts_scheduler_job_success_timestamp_seconds": (
        "gauge",
        "Last successful run of a scheduler job.",
        ("job",),
    ),
    "trialalerts_scheduler_job_failures_total": ("counter", "Failed scheduler jobs.", ("job",)),
    # SES feedback (worker.feedback.poll), in the worker process that polled last.
    "trialalerts_feedback_oldest_age_seconds": (
        "gauge",
        "Age of the oldest SES feedback message the last poll got (0: none).",
        (),
    ),
    "trialalerts_feedback_poll_timestamp_seconds": ("gauge", "Last SES feedback poll.", ()),
    # The ClinicalTrials.gov poller (worker.registry).
    "trialalerts_ctgov_requests_total": ("counter", "API requests, by status.", ("status",)),
    "trialalerts_ctgov_bad_pages_total": ("counter", "Answers not the JSON expected.", ()),
    "trialalerts_ctgov_studies_total": ("counter", "Studies fetched, by pass.", ("kind",)),
    "trialalerts_ctgov_events_total": ("counter", "Events published, by outcome.", ("outcome",)),
    "trialalerts_ctgov_missing_total": ("counter", "Followed studies not returned.", ()),
    "trialalerts_ctgov_cursor_lag_seconds": ("gauge", "Now minus the cursor day.", ()),
    "trialalerts_ctgov_last_success_timestamp_seconds": ("gauge", "Last complete poll.", ()),
}
_metrics: dict[str, Any] = {}
_lock = threading.Lock()


def _metric(name: str) -> Any:
    metric = _metrics.get(name)
    if metric is None:
        with _lock:
            metric = _metrics.get(name)
            if metric is None:
                import prometheus_client as prom

                kind, doc, labels = DEFINITIONS[name]
                if kind == "counter":
                    metric = prom.Counter(name.removesuffix("_total"), doc, labels)
                else:
                    metric = prom.Gauge(name, doc, labels, multiprocess_mode="mostrecent")
                _metrics[name] = metric
    return metric


def count(name: str, amount: float = 1, **labels: str) -> None:
    if amount:
        metric = _metric(name)
        (metric.labels(**labels) if labels else metric).inc(amount)


def set_gauge(name: str, value: float, **labels: str) -> None:
    metric = _metric(name)
    (metric.labels(**labels) if labels else metric).set(value)
