"""SES feedback, one SQS message at a time: SNS envelope → SES event → plain actions.

Pure: no database, no clock.  The SQS body is either an SNS envelope
(`{"Type": "Notification", "MessageId": …, "Message": "<SES JSON>"}`) or, with
SNS raw message delivery, the SES JSON itself.  SES writes the event kind as
`eventType` (configuration-set event publishing) or `notificationType`
(identity notifications); both are read the same way.

Policy, per recipient (every address in `bouncedRecipients` /
`complainedRecipients` / `delivery.recipients`):
- Permanent bounce → suppress.
- Transient bounce → count a soft bounce; SOFT_BOUNCE_LIMIT in a row suppress.
  `Undetermined` (SES could not classify it) and any bounce type SES may add
  later count as transient: one of them never suppresses on its own.
- Complaint → suppress and stop every subscription of the address, unless the
  feedback type is `not-spam` (the recipient said it was wanted).
- Delivery → the delivery is delivered and the soft-bounce count starts again.
- Bounces, complaints and deliveries also move the delivery row (found by the
  SES MessageId or the `delivery` tag) to bounced / complained / delivered.
Everything else SES or SNS sends is kept with a reason and needs no action.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any, Literal, TypeGuard

from worker.core.delivery_states import State

SOFT_BOUNCE_LIMIT = 5
MAX_EMAIL = 320  # suppressions.email / subscribers.email
MAX_REASON = 200  # suppressions.reason
DELIVERY_TAG = "delivery"  # the SES message tag holding our delivery id (worker.sending.loop)

Outcome = Literal["handled", "ignored", "unknown", "malformed"]

# SES types that carry nothing to act on here (with why, for the kept row).
NO_ACTION = {
    "Reject": "SES rejected the message before sending it",
    "Open": "open tracking",
    "Click": "click tracking",
    "Rendering Failure": "template rendering (templates are not sent through SES)",
    "DeliveryDelay": "SES is still retrying; a bounce or a delivery follows",
    "Subscription": "SES list management (subscriptions live in Trialalerts)",
    "AmazonSnsSubscriptionSucceeded": "SES confirmed the SNS topic",
}
SNS_CONTROL = ("SubscriptionConfirmation", "UnsubscribeConfirmation")


@dataclass(frozen=True)
class Suppress:
    email: str
    reason: str


@dataclass(frozen=True)
class CountSoftBounce:
    email: str


@dataclass(frozen=True)
class ResetSoftBounces:
    email: str


@dataclass(frozen=True)
class StopSubscriptions:
    email: str


@dataclass(frozen=True)
class MarkDelivery:
    """Move the delivery SES knows as `message_id` (the stored SES MessageId).

    `delivery_id` comes from the `delivery` tag the sender puts on each email
    (configuration-set events carry tags; identity notifications do not): it
    finds the delivery even before its MessageId is recorded.
    """

    message_id: str
    state: State
    at: datetime | None = None
    delivery_id: int | None = None


Action = Suppress | CountSoftBounce | ResetSoftBounces | StopSubscriptions | MarkDelivery


@dataclass(frozen=True)
class Feedback:
    """One SQS message understood: its dedupe key, what it is, and what to do.

    `key` is the SNS MessageId; without an envelope (raw message delivery, or a
    body that is not JSON) it is a hash of the body, so a redelivered copy
    still dedupes.
    """

    key: str
    kind: str | None
    outcome: Outcome
    reason: str | None = None
    actions: tuple[Action, ...] = field(default=())


class Malformed(ValueError):
    """The message cannot be read as what it claims to be; the text says why."""


def body_key(body: str) -> str:
    return "sha256:" + hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


def parse_feedback(body: str) -> Feedback:
    """Read one SQS message body; never raises (bad input becomes a `malformed` Feedback).

    Text taken from the message into the kind and reasons is made printable
    (PostgreSQL text cannot hold NUL), and cut to its column.
    """
    fallback_key = body_key(body)
    try:
        feedback = _parse(body, fallback_key)
    except Exception as error:  # noqa: BLE001 - a message we cannot read is kept, never lost
        feedback = Feedback(fallback_key, None, "malformed", f"unreadable: {error!r}")
    return replace(
        feedback,
        kind=_printable(feedback.kind, 40),
        reason=_printable(feedback.reason, None),
        actions=tuple(
            replace(a, reason=_printable(a.reason, MAX_REASON) or "")
            if isinstance(a, Suppress)
            else a
            for a in feedback.actions
        ),
    )


def _printable(text: str | None, limit: int | None) -> str | None:
    if text is None:
        return None
    cleaned = text if text.isprintable() else "".join(c if c.isprintable() else "?" for c in text)
    return cleaned[:limit]


def _parse(body: str, fallback_key: str) -> Feedback:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        return Feedback(fallback_key, None, "malformed", f"not JSON: {error}")
    if not isinstance(document, dict):
        return Feedback(fallback_key, None, "malformed", "not a JSON object")
    if "Type" in document and "MessageId" in document:
        return _from_envelope(document, fallback_key)
    if "eventType" in document or "notificationType" in document:
        return _from_ses(document, fallback_key)
    return Feedback(
        fallback_key, None, "unknown", "neither an SNS envelope nor an SES event or notification"
    )


def _from_envelope(envelope: dict[str, Any], fallback_key: str) -> Feedback:
    message_id = envelope["MessageId"]
    if not _short_printable(message_id, 200):
        return Feedback(fallback_key, None, "malformed", "SNS MessageId is not a short string")
    sns_type = envelope["Type"]
    if sns_type in SNS_CONTROL:
        topic = envelope.get("TopicArn", "?")
        return Feedback(
            message_id,
            f"SNS {sns_type}",
            "ignored",
            f"SNS {sns_type} for {topic}: queue subscriptions are confirmed by the operator "
            "(URLs in queued messages are never followed)",
        )
    if sns_type != "Notification":
        return Feedback(message_id, None, "unknown", f"SNS message type {sns_type!r}")
    message = envelope.get("Message")
    if not isinstance(message, str):
        return Feedback(message_id, None, "malformed", "SNS Message is not a string")
    try:
        ses = json.loads(message)
    except (ValueError, RecursionError) as error:
        return Feedback(message_id, None, "malformed", f"SNS Message is not JSON: {error}")
    if not isinstance(ses, dict):
        return Feedback(message_id, None, "malformed", "SNS Message is not a JSON object")
    return _from_ses(ses, message_id)


def _from_ses(ses: dict[str, Any], key: str) -> Feedback:
    kind = ses.get("eventType") or ses.get("notificationType")
    if not isinstance(kind, str):
        return Feedback(key, None, "unknown", "no eventType or notificationType")
    try:
        if kind == "Bounce":
            return _bounce(ses, key)
        if kind == "Complaint":
            return _complaint(ses, key)
        if kind == "Delivery":
            return _delivery(ses, key)
        if kind == "Send":
            return _send(ses, key)
    except Malformed as error:
        return Feedback(key, kind, "malformed", str(error))
    if kind in NO_ACTION:
        return Feedback(key, kind, "ignored", NO_ACTION[kind])
    if kind == "Received":
        return Feedback(
            key,
            kind,
            "unknown",
            "SES inbound mail is not read here: mailto: unsubscribes are handled by the operator",
        )
    return Feedback(key, kind, "unknown", f"unknown SES type {kind!r}")


def _bounce(ses: dict[str, Any], key: str) -> Feedback:
    bounce = _object(ses, "bounce")
    bounce_type = bounce.get("bounceType") or "Undetermined"
    sub_type = bounce.get("bounceSubType") or "-"
    if not isinstance(bounce_type, str) or not isinstance(sub_type, str):
        raise Malformed("bounceType/bounceSubType are not strings")
    entries = _list(bounce, "bouncedRecipients")
    recipients, skipped = _addresses(entries, "bouncedRecipients")
    actions: list[Action] = []
    for email, entry in recipients:
        if bounce_type == "Permanent":
            detail = entry.get("status") or entry.get("diagnosticCode") or ""
            reason = f"permanent bounce ({sub_type}) {detail}".strip()
            actions.append(Suppress(email, reason))
        else:
            actions.append(CountSoftBounce(email))
    actions += _mark(ses, State.BOUNCED, bounce.get("timestamp"))
    return _acted(key, f"Bounce/{bounce_type}", actions, skipped)


def _complaint(ses: dict[str, Any], key: str) -> Feedback:
    complaint = _object(ses, "complaint")
    feedback_type = complaint.get("complaintFeedbackType")
    recipients, skipped = _addresses(
        _list(complaint, "complainedRecipients"), "complainedRecipients"
    )
    if feedback_type == "not-spam":
        return Feedback(key, "Complaint/not-spam", "ignored", "the recipient marked it not spam")
    label = feedback_type if isinstance(feedback_type, str) and feedback_type else "unspecified"
    actions: list[Action] = []
    for email, _entry in recipients:
        actions.append(Suppress(email, f"complaint ({label})"))
        actions.append(StopSubscriptions(email))
    actions += _mark(ses, State.COMPLAINED, complaint.get("timestamp"))
    return _acted(key, "Complaint", actions, skipped)


def _delivery(ses: dict[str, Any], key: str) -> Feedback:
    delivery = _object(ses, "delivery")
    entries = [{"emailAddress": item} for item in _list(delivery, "recipients")]
    recipients, skipped = _addresses(entries, "delivery.recipients")
    actions: list[Action] = [ResetSoftBounces(email) for email, _entry in recipients]
    actions += _mark(ses, State.DELIVERED, delivery.get("timestamp"))
    return _acted(key, "Delivery", actions, skipped)


def _acted(key: str, kind: str, actions: list[Action], skipped: list[str]) -> Feedback:
    reason = "; ".join(skipped) or None
    return Feedback(key, kind, "handled", reason, tuple(actions))


def _object(ses: dict[str, Any], name: str) -> dict[str, Any]:
    value = ses.get(name)
    if not isinstance(value, dict):
        raise Malformed(f"no {name!r} object")
    return value


def _list(container: dict[str, Any], name: str) -> list[Any]:
    value = container.get(name)
    if not isinstance(value, list) or not value:
        raise Malformed(f"no {name!r} list")
    return value


def _addresses(
    entries: list[Any], where: str
) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """(address, entry) for each usable recipient, and a note for each unusable one.

    A message whose recipients are all unusable is malformed; otherwise the
    good ones are acted on and the notes are kept as the row's reason.
    """
    found: list[tuple[str, dict[str, Any]]] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries):
        email = feedback_address(entry.get("emailAddress") if isinstance(entry, dict) else None)
        if email is None:
            skipped.append(f"{where}[{position}] has no usable emailAddress")
        elif email not in seen:
            seen.add(email)
            found.append((email, entry))
    if not found:
        raise Malformed("; ".join(skipped))
    return found, skipped


def feedback_address(value: Any) -> str | None:
    """The bare, lower-cased address SES reports (it may carry a display name), or None."""
    if not isinstance(value, str):
        return None
    _name, address = parseaddr(value)
    address = address.strip().lower()
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or " " in address or not _short_printable(address, MAX_EMAIL):
        return None
    return address


def _short_printable(value: Any, limit: int) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= limit and value.isprintable()


def _send(ses: dict[str, Any], key: str) -> Feedback:
    """SES took the message: settles a send whose worker stopped before recording it.

    Without this, a delivery left `sending` by a killed worker could be sent
    again although SES already had it (SendEmail has no idempotency token).
    """
    mail = ses.get("mail")
    actions = _mark(ses, State.SENT, mail.get("timestamp") if isinstance(mail, dict) else None)
    if not actions:
        raise Malformed("Send event without mail.messageId")
    return _acted(key, "Send", actions, [])


def _mark(ses: dict[str, Any], state: State, timestamp: Any) -> list[Action]:
    mail = ses.get("mail")
    if not isinstance(mail, dict):
        return []
    message_id = mail.get("messageId")
    if not _short_printable(message_id, 500):
        return []
    return [MarkDelivery(message_id, state, _timestamp(timestamp), _delivery_tag(mail))]


def _delivery_tag(mail: dict[str, Any]) -> int | None:
    """`mail.tags.delivery` is `["123"]` when the email was a digest delivery."""
    tags = mail.get("tags")
    values = tags.get(DELIVERY_TAG) if isinstance(tags, dict) else None
    if isinstance(values, list) and len(values) == 1 and isinstance(values[0], str):
        text = values[0].strip()
        if text.isascii() and text.isdigit() and len(text) <= 18:
            return int(text)
    return None


def _timestamp(value: Any) -> datetime | None:
    """SES timestamps are ISO 8601 UTC (`2017-08-05T00:41:02.669Z`); None when unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
