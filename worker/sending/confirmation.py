"""The double opt-in email of a public sign-up: sent from the queue, once.

POST /signup only records the sign-up and wakes the `signups.mail` actor, so
its answer takes the same time whether an address gets a mail or not
(known, suppressed, over a limit). `mail_signup` is the whole protocol, in
one transaction per sign-up: lock the row (FOR UPDATE on PostgreSQL; SQLite
serializes writers), go on only while it is open, unconfirmed and not yet
mailed; if the address has been suppressed meanwhile, expire the sign-up
instead; else send and set `mailed_at`. A repeated message (a redelivery, a
reconciler wake-up) finds `mailed_at` set and sends nothing; a worker killed
between the send and the commit leaves it unset, so the mail may go twice,
never not at all. A send that can never succeed (SES refused the message)
expires the sign-up; one that may later (rate, quota, pause, transient)
raises, for the queue to retry.

The sender sees the id as -signup_id, so it never collides with a digest's
delivery id (positive) in tags, logs or the file outbox.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select, update

from worker.core.delivery_states import State
from worker.core.models import Signup, Suppression
from worker.core.runtime import Runtime
from worker.core.sql import is_postgresql
from worker.core.tokens import mail_domain
from worker.digests.mime import confirm_message
from worker.sending.attempt import NotSent, send_single
from worker.sending.senders import sender_of
from worker.subscriptions.signups import signup_target

log = logging.getLogger(__name__)
SIGNUPS = cast(Table, Signup.__table__)


def mail_signup(runtime: Runtime, signup_id: int) -> str:
    """Send one sign-up's confirmation unless it went already; returns what happened.

    "sent"; "skipped" (mailed, confirmed, expired or gone); "suppressed" or
    "refused" (the sign-up is expired, no mail will ever go).
    """
    now = runtime.now()
    with runtime.sessions() as session, session.begin():
        query = select(Signup).where(
            Signup.id == signup_id,
            Signup.mailed_at.is_(None),
            Signup.confirmed_at.is_(None),
            Signup.expires_at > now,
        )
        if is_postgresql(session):
            query = query.with_for_update()
        signup = session.scalar(query)
        if signup is None:
            return "skipped"
        closed = update(SIGNUPS).where(SIGNUPS.c.id == signup_id).values(expires_at=now)
        if session.scalar(select(Suppression.email).where(Suppression.email == signup.email)):
            session.execute(closed)
            return "suppressed"
        try:
            send_confirmation(runtime, signup, now)
        except NotSent as error:
            if error.state is not State.FAILED:
                raise
            log.warning(
                "confirmation of sign-up %d refused: %s",
                signup_id,
                error,
                extra={"signup_id": signup_id},
            )
            session.execute(closed)
            return "refused"
        session.execute(update(SIGNUPS).where(SIGNUPS.c.id == signup_id).values(mailed_at=now))
    return "sent"


def send_confirmation(runtime: Runtime, signup: Signup, now: datetime) -> str:
    """Email the confirmation link of one sign-up; returns the provider's message id."""
    settings = runtime.settings
    raw = confirm_message(
        settings,
        to_addr=signup.email,
        signup_id=signup.id,
        link_key=signup.link_key,
        target=signup_target(signup),
        now=now,
        message_id=f"<signup-{signup.id}-{now:%Y%m%d%H%M%S}@{mail_domain(settings)}>",
    )
    return send_single(
        sender_of(runtime),
        to_addr=signup.email,
        raw=raw,
        delivery_id=-signup.id,
        tags={"kind": "confirm", "signup": str(signup.id)},
    )
