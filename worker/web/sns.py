"""`POST /ses/sns`: SES feedback pushed by SNS over HTTPS, for operators without the SQS queue.

A Notification goes where the SQS poller's messages go
(`worker.feedback.store`): stored once by SNS MessageId, its bounces,
complaints and deliveries applied in the same transaction. A
SubscriptionConfirmation for a configured topic is confirmed by opening its
SubscribeURL; an UnsubscribeConfirmation is only logged (the topic's owner
unsubscribed us; we do not subscribe again).

Answers: 200 when done (a duplicate too), 400 for a body that is no SNS
message, 403 for a message we must not act on (unknown topic, bad
signature, a certificate or SubscribeURL off SNS's hosts: logged, nothing
changed), 503 when the database, the certificate or the SubscribeURL cannot
be reached, so that SNS delivers the message again later.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from worker.feedback.sns import (
    NotSns,
    Refused,
    SnsLinks,
    Unavailable,
    read_message,
    verify,
)
from worker.feedback.store import FeedbackTally, store_feedback
from worker.web.support import current_runtime

log = logging.getLogger(__name__)
blueprint = Blueprint("sns", __name__)

SNS_LINKS_KEY = "trialalerts.sns_links"  # app.extensions: the SnsLinks given to create_app
MAX_BODY_BYTES = 512 * 1024  # SNS messages are at most 256 KB


@blueprint.before_request
def _allow_sns_sized_bodies() -> None:
    request.max_content_length = MAX_BODY_BYTES


@blueprint.post("/ses/sns")
def receive() -> Response:
    runtime = current_runtime()
    links: SnsLinks = current_app.extensions[SNS_LINKS_KEY]
    body = request.get_data(cache=False)
    try:
        message = read_message(body)
        verify(message, runtime.settings.sns_topic_arns, links)
        if message["Type"] == "SubscriptionConfirmation":
            links.confirm(message["SubscribeURL"])
    except NotSns as error:
        log.warning("POST /ses/sns: %s", error)
        return _answer({"error": str(error)}, 400)
    except Refused as error:
        log.warning("POST /ses/sns refused: %s", error)
        return _answer({"error": f"refused: {error}"}, 403)
    except Unavailable as error:
        log.error("POST /ses/sns: could not reach SNS: %s", error)
        return _answer({"error": "SNS could not be reached; deliver again later"}, 503)
    kind, topic = message["Type"], message["TopicArn"]
    if kind == "SubscriptionConfirmation":
        log.info("POST /ses/sns: confirmed the subscription to %s", topic)
        return _answer({"confirmed": topic}, 200)
    if kind == "UnsubscribeConfirmation":
        log.warning("POST /ses/sns: unsubscribed from %s; not subscribing again", topic)
        return _answer({"unsubscribed": topic}, 200)
    tally = FeedbackTally()
    if not store_feedback(runtime, [body.decode("utf-8")], tally):
        return _answer({"error": "the feedback could not be stored; deliver again later"}, 503)
    return _answer({"stored": sum(tally.outcomes.values()), "duplicates": tally.duplicates}, 200)


def _answer(body: dict[str, Any], status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response
