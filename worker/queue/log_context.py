"""Every log line written while a queue message is worked names the actor and the message."""

from __future__ import annotations

from typing import Any

from dramatiq import Broker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from worker.core.logs import bind


class LogContext(Middleware):
    """Worker threads take one message at a time, so a thread's ids are that message's."""

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        bind(actor=message.actor_name, message_id=message.message_id)

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: Any = None
    ) -> None:
        bind()

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        bind()
