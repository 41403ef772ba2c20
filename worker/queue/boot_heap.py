"""A worker process keeps what it booted with out of full collections.

A worker process lives for days with the modules it imported at boot
(worker.queue.tasks declares every actor, so SQLAlchemy, dramatiq, Jinja2 and
our own modules): about 87,000 objects the collector tracks, rescanned by
every full collection (15-35 ms each here) though none of them will ever be
garbage.  Once the process has booted, `FrozenBootHeap` collects once (the
import-time garbage is freed, not kept) and moves what is left to the
collector's permanent generation (`gc.freeze`): still freed if it stops being
referenced, never scanned again.  Matching freezes once more after its first
criteria load (worker.matching.criteria_index), for the cache it then holds.

dramatiq emits `process_boot` in each of its CLI's worker processes only,
after importing the broker module and before starting the worker threads;
a Worker started in a process of its own (tests, benches) never emits it.
"""

from __future__ import annotations

import gc

from dramatiq import Broker
from dramatiq.middleware import Middleware


class FrozenBootHeap(Middleware):
    """Freezes the heap of a booted worker process, after one full collection."""

    def after_process_boot(self, broker: Broker) -> None:
        gc.collect()
        gc.freeze()
