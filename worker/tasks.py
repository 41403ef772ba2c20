"""Entry module for the dramatiq CLI (`dramatiq worker.tasks`): set the broker, declare actors.

This is the one module whose import wires things up, because that is how the
dramatiq CLI finds a broker; nothing connects until the first message.
"""

from worker.broker import install, make_broker
from worker.logs import redact_existing_handlers
from worker.runtime import get_runtime

redact_existing_handlers()
broker = install(make_broker(get_runtime().settings))
