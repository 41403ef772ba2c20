"""Public sign-up with double opt-in: request, confirm, expire.

A sign-up is a row in `signups` until its owner clicks the emailed link;
only then does a subscription exist (confirmed, through the same import
path admins use, so identities and criteria are the same). Whoever asks
gets the same answer whether the address is known, suppressed or over its
limit, so the form cannot tell anyone which addresses are subscribed. Limits
bound the mail it can cause: a few confirmation emails per address a day, a
few dozen per client an hour (clients are kept as a keyed hash, never as
addresses). Unconfirmed sign-ups expire with their link, and a link acts
only on the sign-up it was minted for (its row's link key, see
`worker.core.tokens.minted_for`), never on a later row under the same id.

A client is an IPv4 address or an IPv6 /64 (`client_network`). The
confirmation mail goes from the queue (worker.sending.confirmation).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Table, delete, func, or_, select, update
from sqlalchemy.orm import Session

from worker.core.cadence import DEFAULT_SEND_HOUR
from worker.core.models import Signup, Subscriber, Subscription, Suppression
from worker.core.runtime import Runtime, get_runtime
from worker.core.sql import lock_keys
from worker.core.tokens import CONFIRM_MAX_AGE, minted_for
from worker.matching.criteria import criteria_for
from worker.subscriptions.imports import import_subscriptions, subscription_identity
from worker.subscriptions.rows import ELIGIBILITY_FIELDS, SubscriptionRow, parse_row, show_value

log = logging.getLogger(__name__)

SIGNUPS = cast(Table, Signup.__table__)
SUBSCRIPTIONS = cast(Table, Subscription.__table__)
SIGNUP_FIELDS = (
    "email",
    "condition",
    "nct_id",
    "frequency",
    "timezone",
    "near",
    *ELIGIBILITY_FIELDS,
)
SIGNUP_LIFETIME = CONFIRM_MAX_AGE


@dataclass(frozen=True)
class SignupLimits:
    per_address: int = 3
    address_window: timedelta = timedelta(hours=24)
    per_client: int = 20
    client_window: timedelta = timedelta(hours=1)


DEFAULT_LIMITS = SignupLimits()


@dataclass(frozen=True)
class SignupOutcome:
    """What happened to a request; only logs and tests see it, never the requester."""

    signup_id: int | None
    reason: str  # "recorded", "address-limit", "client-limit", "suppressed"


@dataclass(frozen=True)
class SignupStatus:
    """A sign-up as its confirmation page describes it."""

    state: str  # "pending", "confirmed", "expired", "missing"
    target: str = ""
    subscriber_id: int | None = None
    subscriber_link_key: str | None = None  # for a link to the subscriber's preferences


def parse_signup(fields: Mapping[str, object]) -> SubscriptionRow:
    """Email plus a condition or an NCT id; ValueError says why not.

    Optional: frequency, timezone, near (a point or a place) and, for a
    condition, the eligibility filters, all judged as an import row is.
    """
    unknown = [key for key in fields if str(key).strip().lower() not in SIGNUP_FIELDS]
    if unknown:
        names = ", ".join(show_value(key) for key in unknown)
        raise ValueError(f"unknown field {names}; expected some of {', '.join(SIGNUP_FIELDS)}")
    given = {str(key).strip().lower(): value for key, value in fields.items() if _given(value)}
    has_condition, has_study = "condition" in given, "nct_id" in given
    if has_condition == has_study:
        raise ValueError("give either a condition or an NCT id (one of the two)")
    row = parse_row({**given, "kind": "condition" if has_condition else "study"})
    if row.kind == "condition":
        criteria_for(row)  # raises when the condition is only stop words
    return row


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def client_hash(keys: Sequence[str], client_address: str) -> str:
    """A keyed hash of the client's network: enough to count requests, useless to anyone else."""
    key = keys[0].encode() if keys else b""
    client = client_network(client_address).encode()
    return hmac.new(key, b"signup-client\x00" + client, hashlib.sha256).hexdigest()


def client_network(client_address: str) -> str:
    """What the per-client limit counts as one client: an IPv4 address, or an IPv6 /64.

    One IPv6 host commonly holds a whole /64 (a home line, a cloud VM) and
    can take a new address from it for every request, so counting single
    IPv6 addresses would count nothing. An IPv4-mapped address is its IPv4;
    a port (some proxies add one) is not part of the client.
    """
    text = client_address.strip()
    if text.startswith("["):  # [v6]:port
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # v4:port, as some proxies write X-Forwarded-For
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return client_address  # not an IP (a test client, a unix socket): counted as given
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def create_signup(
    session: Session,
    row: SubscriptionRow,
    client: str,
    now: datetime,
    limits: SignupLimits = DEFAULT_LIMITS,
) -> SignupOutcome:
    """Record a sign-up unless a limit or a suppression says no mail may go out."""
    mailbox = same_mailbox(row.email)
    lock_keys(session, "signup", [mailbox_key(row.email), client])
    suppressed = session.scalar(select(Suppression.email).where(Suppression.email == row.email))
    if suppressed is not None:
        return SignupOutcome(None, "suppressed")
    if _recent(session, mailbox, now - limits.address_window) >= limits.per_address:
        return SignupOutcome(None, "address-limit")
    if _recent(session, Signup.client_hash == client, now - limits.client_window) >= (
        limits.per_client
    ):
        return SignupOutcome(None, "client-limit")
    lat, lon, km = row.near if row.near is not None else (None, None, None)
    signup = Signup(
        email=row.email,
        kind=row.kind,
        condition=row.condition,
        nct_id=row.nct_id,
        frequency=row.frequency,
        timezone=row.timezone,
        near_lat=lat,
        near_lon=lon,
        near_km=km,
        near_place=row.near_place,
        age=row.age,
        sex=row.sex,
        healthy_volunteers=row.healthy_volunteers,
        phases=list(row.phases) or None,
        study_types=list(row.study_types) or None,
        client_hash=client,
        created_at=now,
        expires_at=now + SIGNUP_LIFETIME,
        confirmed_at=None,
    )
    session.add(signup)
    session.flush()
    return SignupOutcome(signup.id, "recorded")


def mailbox_key(email: str) -> str:
    """The mailbox an address reaches: `ada+x@example.org` is `ada@example.org`.

    Most providers deliver a `+tag` address to the untagged mailbox, so the
    per-address limit counts them together; otherwise a stranger could fill
    one inbox by adding a new tag to every request.
    """
    local, _, domain = email.rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def same_mailbox(email: str) -> ColumnElement[bool]:
    """Sign-ups to the mailbox of `email`, whatever their +tag."""
    local, _, domain = mailbox_key(email).rpartition("@")
    tagged = _like_escaped(local) + "+%@" + _like_escaped(domain)
    return or_(Signup.email == f"{local}@{domain}", Signup.email.like(tagged, escape="\\"))


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _recent(session: Session, which: ColumnElement[bool], since: datetime) -> int:
    counted = select(func.count()).select_from(Signup).where(which, Signup.created_at > since)
    return session.scalar(counted) or 0


def request_signup(
    fields: Mapping[str, object],
    client_address: str,
    runtime: Runtime,
    limits: SignupLimits = DEFAULT_LIMITS,
) -> SignupOutcome:
    """Validate (ValueError) and record; the caller wakes the mailer after commit.

    (worker.queue.pipeline.sign_up: the mail goes from the queue, never inside a request.)
    """
    row = parse_signup(fields)
    now = runtime.now()
    client = client_hash(runtime.settings.secret_keys, client_address)
    with runtime.sessions() as session, session.begin():
        outcome = create_signup(session, row, client, now, limits)
    if outcome.signup_id is None:
        log.info("sign-up not mailed: %s", outcome.reason)
    return outcome


def signup_target(signup: Signup) -> str:
    """What a sign-up asks for, as its pages and its email name it."""
    return signup.condition if signup.condition is not None else signup.nct_id or ""


def signup_status(
    session: Session, signup_id: int, now: datetime, token_key: str | None
) -> SignupStatus:
    """What a confirmation link (`token_key`: its link key) leads to, without changing anything.

    "missing" when the sign-up is gone, or the row under that id is not the
    one the link was minted for; "expired" past its week, used or not. A used
    link names no subscriber: only the answer to the confirming request links
    to the preferences page, so an old (leaked) confirmation mail never hands
    out the links of a subscriber whose links were cut off or who came back.
    """
    signup = session.get(Signup, signup_id)
    if signup is None or not minted_for(token_key, signup.link_key, signup.legacy_links):
        return SignupStatus("missing")
    target = signup_target(signup)
    if signup.expires_at <= now:
        return SignupStatus("expired", target)
    if signup.confirmed_at is not None:
        return SignupStatus("confirmed", target)
    return SignupStatus("pending", target)


def confirm_signup(
    session: Session,
    signup_id: int,
    now: datetime,
    token_key: str | None,
    send_hour: int = DEFAULT_SEND_HOUR,
) -> SignupStatus:
    """Turn a pending sign-up into a confirmed, running subscription; idempotent.

    `token_key` is the link key of the confirmation link (see `signup_status`).
    An existing subscription to the same thing is restarted and takes the
    sign-up's frequency; an existing subscriber keeps their timezone.
    """
    status = signup_status(session, signup_id, now, token_key)
    if status.state != "pending":
        return status
    claim = (
        update(SIGNUPS)
        .where(SIGNUPS.c.id == signup_id, SIGNUPS.c.confirmed_at.is_(None))
        .values(confirmed_at=now)
    )
    claimed = cast(CursorResult[Any], session.execute(claim)).rowcount
    signup = session.get(Signup, signup_id)
    assert signup is not None
    if not claimed:  # confirmed meanwhile by a second click
        return signup_status(session, signup_id, now, token_key)
    zone = session.scalar(select(Subscriber.timezone).where(Subscriber.email == signup.email))
    near = None
    if signup.near_lat is not None and signup.near_lon is not None and signup.near_km is not None:
        near = (signup.near_lat, signup.near_lon, signup.near_km)
    row = SubscriptionRow(
        email=signup.email,
        kind=signup.kind,
        condition=signup.condition,
        nct_id=signup.nct_id,
        frequency=signup.frequency,
        statuses=(),
        countries=(),
        near=near,
        timezone=zone or signup.timezone,
        age=signup.age,
        sex=signup.sex,
        healthy_volunteers=signup.healthy_volunteers,
        phases=tuple(signup.phases or ()),
        study_types=tuple(signup.study_types or ()),
        near_place=signup.near_place if near is not None else None,
    )
    report = import_subscriptions(session, [(1, row)], now, send_hour=send_hour)
    if report.rejected:
        raise ValueError(f"sign-up {signup_id} cannot be subscribed: {report.rejected[0]}")
    subscriber_id, subscriber_link_key = _subscriber(session, signup.email)
    subs = SUBSCRIPTIONS
    session.execute(
        update(subs)
        .where(subs.c.subscriber_id == subscriber_id, subs.c.identity == subscription_identity(row))
        .values(active=True, confirmed=True, updated_at=now)
    )
    return SignupStatus("confirmed", status.target, subscriber_id, subscriber_link_key)


def _subscriber(session: Session, email: str) -> tuple[int | None, str | None]:
    """(id, link key) of the subscriber with this address; (None, None) when there is none."""
    found = session.execute(
        select(Subscriber.id, Subscriber.link_key).where(Subscriber.email == email)
    ).first()
    return (found[0], found[1]) if found is not None else (None, None)


def expire_signups(session: Session, now: datetime) -> int:
    """Delete sign-ups whose link has expired (confirmed or not); returns how many went.

    A confirmed sign-up has done its work (the subscription exists) and its
    link is dead past the same date, so both go; rate limits look back far
    less than a sign-up lives.
    """
    expired = delete(SIGNUPS).where(SIGNUPS.c.expires_at <= now)
    return cast(CursorResult[Any], session.execute(expired)).rowcount or 0


def cleanup_signups(runtime: Runtime | None = None) -> int:
    """The scheduler's periodic clean-up: one transaction removing expired sign-ups."""
    runtime = runtime or get_runtime()
    with runtime.sessions() as session, session.begin():
        removed = expire_signups(session, runtime.now())
    if removed:
        log.info("removed %d expired sign-ups", removed)
    return removed
