"""Reading SES feedback: SNS envelopes (or raw delivery) around SES events → plain actions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.feedback_support import (
    bounce,
    complaint,
    delivery,
    delivery_delay,
    reject_event,
    send_event,
    sns_envelope,
    subscription_confirmation,
)
from worker.core.delivery_states import State
from worker.feedback.messages import (
    CountSoftBounce,
    MarkDelivery,
    ResetSoftBounces,
    StopSubscriptions,
    Suppress,
    body_key,
    parse_feedback,
)

BOTH_FORMS = pytest.mark.parametrize(
    "publishing", [True, False], ids=["eventType", "notificationType"]
)
AT = datetime(2026, 6, 29, 6, 0, 3, 669000, tzinfo=UTC)


def _tag(publishing: bool) -> int | None:
    """Configuration-set events carry the sender's `delivery` tag; notifications carry none."""
    return 1 if publishing else None


def _in_envelope(record: dict, message_id: str = "sns-1") -> str:
    return json.dumps(sns_envelope(record, message_id=message_id))


@BOTH_FORMS
def test_a_permanent_bounce_suppresses_every_bounced_recipient(publishing: bool) -> None:
    record = bounce(
        ["ada@example.org", "Bob@Example.ORG"], message_id="ses-1", publishing=publishing
    )
    feedback = parse_feedback(_in_envelope(record))
    assert (feedback.key, feedback.kind, feedback.outcome) == (
        "sns-1",
        "Bounce/Permanent",
        "handled",
    )
    assert feedback.actions == (
        Suppress("ada@example.org", "permanent bounce (General) 5.1.1"),
        Suppress("bob@example.org", "permanent bounce (General) 5.1.1"),
        MarkDelivery("ses-1", State.BOUNCED, AT, _tag(publishing)),
    )


def test_a_bounce_without_a_dsn_still_suppresses() -> None:
    record = bounce(["jane@example.com", "richard@example.com"], publishing=False)
    for entry in record["bounce"]["bouncedRecipients"]:
        del entry["action"], entry["status"], entry["diagnosticCode"]
    feedback = parse_feedback(_in_envelope(record))
    suppressed = [a for a in feedback.actions if isinstance(a, Suppress)]
    assert [(a.email, a.reason) for a in suppressed] == [
        ("jane@example.com", "permanent bounce (General)"),
        ("richard@example.com", "permanent bounce (General)"),
    ]


@BOTH_FORMS
@pytest.mark.parametrize("bounce_type", ["Transient", "Undetermined"])
def test_transient_and_undetermined_bounces_are_counted_not_suppressed(
    publishing: bool, bounce_type: str
) -> None:
    record = bounce(
        ["ada@example.org"],
        bounce_type=bounce_type,
        sub_type="MailboxFull",
        message_id="ses-2",
        publishing=publishing,
    )
    feedback = parse_feedback(_in_envelope(record))
    assert feedback.kind == f"Bounce/{bounce_type}"
    assert feedback.actions == (
        CountSoftBounce("ada@example.org"),
        MarkDelivery("ses-2", State.BOUNCED, AT, _tag(publishing)),
    )


@BOTH_FORMS
def test_a_complaint_suppresses_and_stops_all_subscriptions(publishing: bool) -> None:
    record = complaint(["ada@example.org"], message_id="ses-3", publishing=publishing)
    feedback = parse_feedback(_in_envelope(record))
    assert (feedback.kind, feedback.outcome) == ("Complaint", "handled")
    assert feedback.actions == (
        Suppress("ada@example.org", "complaint (abuse)"),
        StopSubscriptions("ada@example.org"),
        MarkDelivery("ses-3", State.COMPLAINED, AT, _tag(publishing)),
    )


def test_a_complaint_without_a_feedback_type_still_suppresses() -> None:
    feedback = parse_feedback(_in_envelope(complaint(["ada@example.org"], feedback_type=None)))
    assert Suppress("ada@example.org", "complaint (unspecified)") in feedback.actions


def test_a_not_spam_report_is_kept_but_suppresses_nothing() -> None:
    feedback = parse_feedback(
        _in_envelope(complaint(["ada@example.org"], feedback_type="not-spam"))
    )
    assert (feedback.outcome, feedback.actions) == ("ignored", ())
    assert "not spam" in (feedback.reason or "")


@BOTH_FORMS
def test_a_delivery_marks_the_delivery_and_resets_soft_bounces(publishing: bool) -> None:
    record = delivery(["ada@example.org"], message_id="ses-4", publishing=publishing)
    feedback = parse_feedback(_in_envelope(record))
    assert (feedback.kind, feedback.outcome) == ("Delivery", "handled")
    assert feedback.actions == (
        ResetSoftBounces("ada@example.org"),
        MarkDelivery("ses-4", State.DELIVERED, AT, _tag(publishing)),
    )


def test_raw_message_delivery_is_read_without_an_envelope_and_keyed_by_its_body() -> None:
    body = json.dumps(bounce(["ada@example.org"]))
    feedback = parse_feedback(body)
    assert feedback.outcome == "handled" and feedback.key == body_key(body)
    assert Suppress("ada@example.org", "permanent bounce (General) 5.1.1") in feedback.actions
    assert parse_feedback(body).key == feedback.key  # a redelivered copy dedupes


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        (reject_event("ada@example.org"), "Reject"),
        (delivery_delay("ada@example.org"), "DeliveryDelay"),
        (
            {
                "notificationType": "AmazonSnsSubscriptionSucceeded",
                "message": "You have successfully subscribed your Amazon SNS topic",
            },
            "AmazonSnsSubscriptionSucceeded",
        ),
    ],
)
def test_events_without_consequences_are_kept_as_ignored_with_a_reason(
    record: dict, kind: str
) -> None:
    feedback = parse_feedback(_in_envelope(record))
    assert (feedback.kind, feedback.outcome, feedback.actions) == (kind, "ignored", ())
    assert feedback.reason


def test_an_sns_subscription_confirmation_is_never_followed() -> None:
    feedback = parse_feedback(json.dumps(subscription_confirmation()))
    assert (feedback.kind, feedback.outcome, feedback.actions) == (
        "SNS SubscriptionConfirmation",
        "ignored",
        (),
    )
    assert "operator" in (feedback.reason or "")


def test_an_unknown_ses_type_is_kept_as_unknown() -> None:
    feedback = parse_feedback(_in_envelope({"eventType": "Teleport", "mail": {}}, "sns-9"))
    assert (feedback.key, feedback.kind, feedback.outcome) == ("sns-9", "Teleport", "unknown")
    assert feedback.reason == "unknown SES type 'Teleport'"


def test_inbound_mail_is_unknown_and_points_at_the_operator() -> None:
    feedback = parse_feedback(_in_envelope({"notificationType": "Received", "mail": {}}))
    assert feedback.outcome == "unknown" and "mailto:" in (feedback.reason or "")


def test_a_body_that_is_neither_sns_nor_ses_is_unknown() -> None:
    body = json.dumps({"hello": "world"})
    feedback = parse_feedback(body)
    assert (feedback.key, feedback.outcome) == (body_key(body), "unknown")


@pytest.mark.parametrize(
    ("body", "reason_start"),
    [
        ("{this is not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ("[" * 100_000 + "]" * 100_000, "not JSON"),
        (json.dumps(sns_envelope("{oops")), "SNS Message is not JSON"),
        (json.dumps(sns_envelope({"eventType": "Bounce", "mail": {}})), "no 'bounce' object"),
        (
            json.dumps(sns_envelope({"eventType": "Complaint", "complaint": {}, "mail": {}})),
            "no 'complainedRecipients' list",
        ),
        (
            json.dumps(sns_envelope(bounce(["not an address"]))),
            "bouncedRecipients[0] has no usable emailAddress",
        ),
    ],
)
def test_malformed_messages_are_kept_with_the_reason(body: str, reason_start: str) -> None:
    feedback = parse_feedback(body)
    assert feedback.outcome == "malformed" and feedback.actions == ()
    assert (feedback.reason or "").startswith(reason_start)


def test_a_malformed_envelope_is_keyed_by_its_sns_message_id() -> None:
    feedback = parse_feedback(json.dumps(sns_envelope("{oops", message_id="sns-7")))
    assert feedback.key == "sns-7"


def test_unusable_recipients_are_skipped_and_noted_the_rest_are_acted_on() -> None:
    record = bounce(["ada@example.org"])
    record["bounce"]["bouncedRecipients"].append({"emailAddress": 42})
    feedback = parse_feedback(_in_envelope(record))
    assert feedback.outcome == "handled"
    assert feedback.reason == "bouncedRecipients[1] has no usable emailAddress"
    assert [a.email for a in feedback.actions if isinstance(a, Suppress)] == ["ada@example.org"]


def test_display_names_and_case_are_dropped_from_addresses() -> None:
    record = complaint(['"Ada L." <Ada@Example.ORG>'])
    feedback = parse_feedback(_in_envelope(record))
    assert StopSubscriptions("ada@example.org") in feedback.actions


def test_a_long_diagnostic_never_overflows_the_reason_column() -> None:
    record = bounce(["ada@example.org"])
    entry = record["bounce"]["bouncedRecipients"][0]
    del entry["status"]
    entry["diagnosticCode"] = "smtp; 550 " + "x" * 1000
    [suppress, _mark] = parse_feedback(_in_envelope(record)).actions
    assert isinstance(suppress, Suppress) and len(suppress.reason) == 200


def test_feedback_without_a_mail_object_acts_on_recipients_only() -> None:
    record = bounce(["ada@example.org"])
    del record["mail"]
    assert parse_feedback(_in_envelope(record)).actions == (
        Suppress("ada@example.org", "permanent bounce (General) 5.1.1"),
    )


@pytest.mark.parametrize("tag", [["12", "13"], ["x1"], "12", ["9" * 19]])
def test_a_delivery_tag_that_is_not_one_id_is_not_used(tag: object) -> None:
    record = delivery(["ada@example.org"], message_id="ses-5")
    record["mail"]["tags"]["delivery"] = tag
    [_reset, mark] = parse_feedback(_in_envelope(record)).actions
    assert mark == MarkDelivery("ses-5", State.DELIVERED, AT, None)


def test_control_characters_never_reach_the_database() -> None:
    record = bounce(["ada@example.org", "nul\x00@example.org"], sub_type="Gen\x00eral")
    record["mail"]["messageId"] = "ses\x00id"
    feedback = parse_feedback(json.dumps(sns_envelope(record)))
    assert feedback.actions == (Suppress("ada@example.org", "permanent bounce (Gen?eral) 5.1.1"),)
    assert feedback.reason == "bouncedRecipients[1] has no usable emailAddress"
    unknown = parse_feedback(json.dumps({"eventType": "Odd\x00Type"}))
    assert unknown.kind == "Odd?Type" and unknown.outcome == "unknown"


def test_a_timestamp_out_of_range_is_left_out() -> None:
    record = delivery(["ada@example.org"], message_id="ses-6", publishing=False)
    record["delivery"]["timestamp"] = "0001-01-01T00:00:00+14:00"
    assert parse_feedback(json.dumps(record)).actions[-1] == MarkDelivery("ses-6", State.DELIVERED)


def test_a_send_event_settles_the_delivery_it_names() -> None:
    feedback = parse_feedback(_in_envelope(send_event("ada@example.org", "0100-abc")))
    [mark] = feedback.actions
    assert (feedback.kind, feedback.outcome) == ("Send", "handled")
    assert isinstance(mark, MarkDelivery) and (mark.message_id, mark.state) == ("0100-abc", "sent")
