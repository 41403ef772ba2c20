"""The double opt-in email of a public sign-up, sent like any other message.

The sender sees the id as -signup_id, so it never collides with a digest's
delivery id (positive) in tags, logs or the file outbox.
"""

from __future__ import annotations

from datetime import datetime

from worker.core.models import Signup
from worker.core.runtime import Runtime
from worker.core.tokens import mail_domain
from worker.digests.mime import confirm_message
from worker.sending.attempt import send_single
from worker.sending.senders import sender_of
from worker.subscriptions.signups import signup_target


def send_confirmation(runtime: Runtime, signup_id: int, now: datetime) -> str:
    """Email the confirmation link of one sign-up; returns the provider's message id."""
    settings = runtime.settings
    with runtime.sessions() as session:
        signup = session.get(Signup, signup_id)
        if signup is None:
            raise LookupError(f"sign-up {signup_id} does not exist")
        to_addr, target, link_key = signup.email, signup_target(signup), signup.link_key
    raw = confirm_message(
        settings,
        to_addr=to_addr,
        signup_id=signup_id,
        link_key=link_key,
        target=target,
        now=now,
        message_id=f"<signup-{signup_id}-{now:%Y%m%d%H%M%S}@{mail_domain(settings)}>",
    )
    return send_single(
        sender_of(runtime),
        to_addr=to_addr,
        raw=raw,
        delivery_id=-signup_id,
        tags={"kind": "confirm", "signup": str(signup_id)},
    )
