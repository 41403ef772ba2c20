"""Broker choice (in-process stub, Redis or RabbitMQ) and the in-process drain.

Actors are declared on the broker explicitly (worker.queue.actors.install),
so the broker is always chosen before any actor exists; senders need only an
actor's name.  Messages carry ids only: the rows
they point at are the work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urlparse

import dramatiq
from dramatiq import Broker, Message
from dramatiq.brokers.stub import StubBroker

from worker.core.config import RABBITMQ_SCHEMES, Settings
from worker.queue.boot_heap import FrozenBootHeap
from worker.queue.log_context import LogContext

log = logging.getLogger(__name__)
_current: Broker | None = None

# The queue of each actor, by name: one table for senders here and for worker.queue.actors.
QUEUES = {
    "events.ingest": "ingest",
    "changes.match": "match",
    "digests.build": "digests",
    "deliveries.send": "send",
    "feedback.poll": "feedback",
    "signups.mail": "signups",
    "imports.run": "imports",
}


def make_broker(settings: Settings, in_process: bool = False) -> Broker:
    """The broker TRIALALERTS_BROKER_URL names by its scheme, unless forced in-process."""
    if settings.broker_url is None or in_process:
        return StubBroker()
    broker: Broker
    if settings.broker_kind == "rabbitmq":
        from worker.queue.rabbitmq import rabbitmq_broker

        broker = rabbitmq_broker(settings.broker_url)
    else:
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=settings.broker_url)
    broker.add_middleware(LogContext())
    broker.add_middleware(FrozenBootHeap())  # in dramatiq's worker processes only
    if settings.metrics_port:
        _add_prometheus(broker, settings.metrics_port)
    return broker


def ping(url: str, timeout: float) -> None:
    """Raise unless the broker (or Redis) at `url` answers within `timeout` seconds."""
    if urlparse(url).scheme in RABBITMQ_SCHEMES:
        import pika

        parameters = pika.URLParameters(url)
        parameters.connection_attempts = 1
        parameters.socket_timeout = parameters.stack_timeout = timeout
        pika.BlockingConnection(parameters).close()
        return
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


def _add_prometheus(broker: Broker, port: int) -> None:
    """dramatiq's middleware serves /metrics from a fork of the worker master (ours included).

    `trialalerts worker` sets dramatiq_prom_port/host and the folder (TRIALALERTS_METRICS_DIR,
    emptied) before the master starts.
    """
    from dramatiq.middleware.prometheus import Prometheus

    broker.add_middleware(Prometheus())


def use(broker: Broker) -> Broker:
    """Make `broker` the process's broker (worker.queue.actors.install also declares the actors)."""
    global _current
    dramatiq.set_broker(broker)
    _current = broker
    return broker


def current(settings: Settings) -> Broker:
    return _current if _current is not None else use(make_broker(settings))


def enqueue(settings: Settings, actor_name: str, *args: object) -> None:
    """Send a wake-up message by actor name, only after the transaction that made the work commits.

    The message is built here rather than through the actor object, so a
    process that only sends (web, CLI) needs no actor declared.
    """
    broker = current(settings)
    queue = QUEUES[actor_name]
    broker.declare_queue(queue)
    broker.enqueue(
        Message(queue_name=queue, actor_name=actor_name, args=args, kwargs={}, options={})
    )


@dataclass
class DrainReport:
    processed: int = 0
    failures: list[str] = field(default_factory=list)


def drain(broker: StubBroker, report: DrainReport | None = None) -> DrainReport:
    """Run every queued message (delayed ones too) in this thread until all queues are empty.

    A failing message is logged and dropped: its row keeps its state, so the
    reconciler finds the work again.
    """
    report = report or DrainReport()
    while True:
        ran = 0
        for name in list(broker.queues):
            queue = broker.queues[name]
            while not queue.empty():
                message = Message.decode(queue.get_nowait())
                queue.task_done()
                ran += 1
                actor = broker.get_actor(message.actor_name)
                try:
                    actor.fn(*message.args, **message.kwargs)
                    report.processed += 1
                except Exception as error:  # noqa: BLE001 - the row keeps the work
                    log.exception("actor %s failed", message.actor_name)
                    report.failures.append(f"{message.actor_name}: {error}")
        if not ran:
            return report
