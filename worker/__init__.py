"""Trialalerts: alerts and digests for clinical-trial registry changes."""

from __future__ import annotations

from typing import Any


def publish(events: Any) -> Any:
    """Publish one CloudEvent (dict) or an iterable of them; returns a PublishReport."""
    from worker.queue.pipeline import publish as _publish

    return _publish(events)
