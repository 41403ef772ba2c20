"""Entry module of the dramatiq CLI (`dramatiq worker.queue.tasks`): broker first, then actors.

This is the one module whose import wires things up, because that is how the
dramatiq CLI finds a broker; nothing connects until the first message.

Imported in each worker process after dramatiq has made its stderr a pipe to
the master (which writes every line out whole): our JSON lines go there too.
"""

import logging

from worker.core.logs import configure
from worker.core.runtime import get_runtime
from worker.queue.actors import install
from worker.queue.broker import make_broker

configure("worker", logging.getLogger().level or logging.INFO)
broker = install(make_broker(get_runtime().settings))
