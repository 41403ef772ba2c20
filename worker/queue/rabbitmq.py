"""RabbitMQ as the broker (TRIALALERTS_BROKER_URL=amqp://…): dramatiq's RabbitmqBroker, as used.

What it does, and what differs from Redis:
- Queues are durable and messages persistent. On first use a process declares
  `<queue>`, `<queue>.DQ` (retries wait there for their backoff, then in the
  worker's memory until due) and `<queue>.XQ` (dead letters: retries spent,
  kept 7 days); the first two dead-letter into the third.
- A worker process holds up to `prefetch` unacked messages per queue (2 × its
  threads, or `dramatiq_queue_prefetch`). When its connection closes (SIGKILL,
  crash, network) RabbitMQ puts them back at once, marked redelivered; Redis
  waits for a heartbeat timeout and a maintenance pass. The reconciler stays
  for what is lost otherwise (a purged queue, a broker that lost its disk).
- Publisher confirms: an enqueue returns once RabbitMQ has the message, and a
  queue deleted under a running process is declared again (a mandatory publish
  that bounces) instead of dropping the message.
- One connection per consumer and one per thread that enqueues. The server's
  heartbeat (60 s unless the URL says `?heartbeat=N`) closes a publishing
  connection left idle for two of them; dramatiq opens a new one on the next
  enqueue (six attempts, then the enqueue raises). pika logs each such close
  as an ERROR with a traceback: noise, silenced here. dramatiq still logs a
  consumer's lost connection (critical) and retries it every 3 s.
- A delivery left unacked past the server's `consumer_timeout` (30 min by
  default) closes its channel and is redelivered: our actors take seconds.
"""

from __future__ import annotations

import logging

from dramatiq.brokers.rabbitmq import RabbitmqBroker


def rabbitmq_broker(url: str) -> RabbitmqBroker:
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    return RabbitmqBroker(url=url, confirm_delivery=True)
