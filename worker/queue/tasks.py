"""Entry module of the dramatiq CLI (`dramatiq worker.queue.tasks`): broker first, then actors.

This is the one module whose import wires things up, because that is how the
dramatiq CLI finds a broker; nothing connects until the first message.
"""

from worker.core.logs import redact_existing_handlers
from worker.core.runtime import get_runtime
from worker.queue.actors import install
from worker.queue.broker import make_broker

redact_existing_handlers()
broker = install(make_broker(get_runtime().settings))
