"""SES feedback as AWS sends it: event and notification builders, and a moto SNS → SQS route.

The builders follow AWS's documented examples of SES event publishing
(`eventType`, configuration sets, with `tags`) and of SES identity
notifications (`notificationType`): same fields, same nesting, same value
formats, with our own addresses and message ids.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import boto3

SENT = "2026-06-29T06:00:01.012Z"
LATER = "2026-06-29T06:00:03.669Z"


def mail(
    message_id: str, destination: list[str], *, publishing: bool = True, delivery_id: int = 1
) -> dict[str, Any]:
    """The `mail` object: the original email, as SES describes it in every record.

    Event publishing adds the message tags (SES's own and the sender's `delivery`).
    """
    block: dict[str, Any] = {
        "timestamp": SENT,
        "source": "Trialalerts <alerts@trialalerts.example>",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/trialalerts.example",
        "sendingAccountId": "123456789012",
        "messageId": message_id,
        "destination": destination,
        "headersTruncated": False,
        "headers": [
            {"name": "From", "value": "Trialalerts <alerts@trialalerts.example>"},
            {"name": "To", "value": destination[0]},
            {"name": "Subject", "value": "Your daily trial alerts"},
            {"name": "MIME-Version", "value": "1.0"},
            {"name": "Content-Type", "value": 'multipart/alternative; boundary="===b=="'},
        ],
        "commonHeaders": {
            "from": ["Trialalerts <alerts@trialalerts.example>"],
            "to": destination,
            "messageId": message_id,
            "subject": "Your daily trial alerts",
        },
    }
    if publishing:
        block["tags"] = {
            "ses:configuration-set": ["trialalerts"],
            "ses:source-ip": ["192.0.2.0"],
            "ses:from-domain": ["trialalerts.example"],
            "ses:caller-identity": ["trialalerts"],
            "delivery": [str(delivery_id)],
        }
    else:
        block["sourceIp"] = "192.0.2.0"
        block["callerIdentity"] = "trialalerts"
    return block


def _record(kind: str, publishing: bool, body_name: str, body: Any, mail_block: Any) -> Any:
    type_field = "eventType" if publishing else "notificationType"
    return {type_field: kind, body_name: body, "mail": mail_block}


def bounce(
    recipients: list[str],
    *,
    bounce_type: str = "Permanent",
    sub_type: str = "General",
    message_id: str = "0100018f-bounce-000000",
    publishing: bool = True,
) -> dict[str, Any]:
    """A Bounce record; permanent ones carry the DSN fields (status, diagnosticCode)."""
    status = "5.1.1" if bounce_type == "Permanent" else "4.4.7"
    entries = [
        {
            "emailAddress": address,
            "action": "failed",
            "status": status,
            "diagnosticCode": f"smtp; 550 {status} user unknown"
            if bounce_type == "Permanent"
            else f"smtp; 452 {status} mailbox full",
        }
        for address in recipients
    ]
    body = {
        "bounceType": bounce_type,
        "bounceSubType": sub_type,
        "bouncedRecipients": entries,
        "timestamp": LATER,
        "feedbackId": f"0100018f-{uuid.uuid4()}-000000",
        "reportingMTA": "dsn; mta.example.org",
    }
    if not publishing:
        body["remoteMtaIp"] = "192.0.2.1"
    return _record(
        "Bounce", publishing, "bounce", body, mail(message_id, recipients, publishing=publishing)
    )


def complaint(
    recipients: list[str],
    *,
    feedback_type: str | None = "abuse",
    message_id: str = "0100018f-complaint-000000",
    publishing: bool = True,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "feedbackId": f"0100018f-{uuid.uuid4()}-000000",
        "complaintSubType": None,
        "complainedRecipients": [{"emailAddress": address} for address in recipients],
        "timestamp": LATER,
        "userAgent": "ExampleCorp Feedback Loop (V0.01)",
        "arrivalDate": LATER,
    }
    if feedback_type is not None:
        body["complaintFeedbackType"] = feedback_type
    return _record(
        "Complaint",
        publishing,
        "complaint",
        body,
        mail(message_id, recipients, publishing=publishing),
    )


def delivery(
    recipients: list[str],
    *,
    message_id: str = "0100018f-delivery-000000",
    publishing: bool = True,
    delivery_id: int = 1,
) -> dict[str, Any]:
    body = {
        "timestamp": LATER,
        "processingTimeMillis": 2657,
        "recipients": recipients,
        "smtpResponse": "250 2.6.0 Message received",
        "reportingMTA": "a8-70.smtp-out.amazonses.com",
        "remoteMtaIp": "192.0.2.1",
    }
    mail_block = mail(message_id, recipients, publishing=publishing, delivery_id=delivery_id)
    return _record("Delivery", publishing, "delivery", body, mail_block)


def send_event(recipient: str, message_id: str = "0100018f-send-000000") -> dict[str, Any]:
    return {"eventType": "Send", "mail": mail(message_id, [recipient]), "send": {}}


def reject_event(recipient: str) -> dict[str, Any]:
    return {
        "eventType": "Reject",
        "mail": mail("0100018f-reject-000000", [recipient]),
        "reject": {"reason": "Bad content"},
    }


def delivery_delay(recipient: str) -> dict[str, Any]:
    return {
        "eventType": "DeliveryDelay",
        "mail": mail("0100018f-delay-000000", [recipient]),
        "deliveryDelay": {
            "timestamp": LATER,
            "delayType": "TransientCommunicationFailure",
            "expirationTime": "2026-06-29T20:00:03.669Z",
            "delayedRecipients": [
                {
                    "emailAddress": recipient,
                    "status": "4.4.1",
                    "diagnosticCode": "smtp; 421 4.4.1 Unable to connect to remote host",
                }
            ],
        },
    }


def sns_envelope(
    message: dict[str, Any] | str, *, message_id: str | None = None, kind: str = "Notification"
) -> dict[str, Any]:
    """An SNS envelope as SQS receives it without raw message delivery."""
    return {
        "Type": kind,
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-feedback",
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": "2026-06-29T06:00:04.012Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+..",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&x=1",
    }


def subscription_confirmation() -> dict[str, Any]:
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": str(uuid.uuid4()),
        "Token": "2336412f37f…",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-feedback",
        "Message": "You have chosen to subscribe to the topic "
        "arn:aws:sns:us-east-1:123456789012:ses-feedback.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&x=1",
        "Timestamp": "2026-06-29T06:00:04.012Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+..",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem",
    }


# ---------------------------------------------------------------- SNS → SQS on moto
# (the moto server and the AWS_* settings come from tests.ses_support)


@dataclass
class FeedbackRoute:
    """An SNS topic delivering to an SQS queue, as a configuration set's event destination."""

    topic_arn: str
    queue_url: str
    raw: bool

    @classmethod
    def create(cls, raw: bool, visibility_timeout: int = 30) -> FeedbackRoute:
        """`visibility_timeout=0` makes a message left on the queue visible again at once."""
        name = f"ses-feedback-{uuid.uuid4().hex[:8]}"
        sqs, sns = boto3.client("sqs"), boto3.client("sns")
        queue_url = sqs.create_queue(
            QueueName=name, Attributes={"VisibilityTimeout": str(visibility_timeout)}
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        topic_arn = sns.create_topic(Name=name)["TopicArn"]
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true" if raw else "false"},
        )
        return cls(topic_arn, queue_url, raw)

    def publish(self, *records: dict[str, Any]) -> None:
        """What SES does: one SNS message per record."""
        sns = boto3.client("sns")
        for record in records:
            sns.publish(TopicArn=self.topic_arn, Message=json.dumps(record))

    def send_body(self, body: str) -> None:
        """Put a body on the queue directly (what a misrouted or broken publisher would do)."""
        boto3.client("sqs").send_message(QueueUrl=self.queue_url, MessageBody=body)

    def counts(self) -> tuple[int, int]:
        """(visible, in flight) messages on the queue."""
        attributes = boto3.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )
