"""Every SES v2 SendEmail error lands in the class the design gives it."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from worker.sending.ses_errors import ErrorClass, SendFailure, classify, classify_exception

DESIGN = {
    "TooManyRequestsException": ErrorClass.RATE,
    "LimitExceededException": ErrorClass.QUOTA,
    "SendingPausedException": ErrorClass.PAUSE,
    "AccountSuspendedException": ErrorClass.PAUSE,
    "MailFromDomainNotVerifiedException": ErrorClass.PAUSE,
    "NotFoundException": ErrorClass.PAUSE,
    "MessageRejected": ErrorClass.PERMANENT,
    "BadRequestException": ErrorClass.PERMANENT,
}


def client_error(code: str, status: int, message: str = "") -> ClientError:
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "SendEmail")  # type: ignore[arg-type]


def test_every_error_sesv2_send_email_declares_has_a_class() -> None:
    model = botocore.session.get_session().get_service_model("sesv2")
    declared = {
        shape.name: shape.metadata["error"]["httpStatusCode"]
        for shape in model.operation_model("SendEmail").error_shapes
    }
    assert set(declared) == set(DESIGN)
    for code, status in declared.items():
        assert classify(code, status) is DESIGN[code], code


def test_the_daily_quota_is_a_quota_even_when_it_comes_as_throttling() -> None:
    assert classify("Throttling", 400, "Daily message quota exceeded.") is ErrorClass.QUOTA
    assert classify("TooManyRequestsException", 429, "Maximum sending rate exceeded.") is (
        ErrorClass.RATE
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(status: int) -> None:
    assert classify("InternalFailure", status) is ErrorClass.TRANSIENT
    assert classify(None, status) is ErrorClass.TRANSIENT


def test_refused_credentials_stop_all_sending() -> None:
    assert classify("UnrecognizedClientException", 403) is ErrorClass.PAUSE
    assert classify("SignatureDoesNotMatch", 403) is ErrorClass.PAUSE
    assert classify(None, 404) is ErrorClass.PAUSE  # a wrong endpoint answers every send so


def test_an_unknown_refusal_of_one_request_is_permanent() -> None:
    assert classify("SomethingNew", 400) is ErrorClass.PERMANENT


def test_client_errors_keep_their_code_and_message() -> None:
    failure = classify_exception(client_error("MessageRejected", 400, "Address blacklisted."))
    assert (failure.error_class, failure.code, failure.message) == (
        ErrorClass.PERMANENT,
        "MessageRejected",
        "Address blacklisted.",
    )
    assert "MessageRejected" in str(failure)


def test_no_answer_after_the_request_went_out_is_uncertain() -> None:
    url = "https://email.us-east-1.amazonaws.com/v2/email/outbound-emails"
    for error in (
        ReadTimeoutError(endpoint_url=url),
        ConnectionClosedError(endpoint_url=url),
    ):
        assert classify_exception(error).error_class is ErrorClass.UNCERTAIN


def test_a_connection_that_never_carried_the_request_is_transient() -> None:
    url = "https://email.us-east-1.amazonaws.com"
    for error in (
        ConnectTimeoutError(endpoint_url=url),
        EndpointConnectionError(endpoint_url=url),
        ConnectionRefusedError(),
    ):
        assert classify_exception(error).error_class is ErrorClass.TRANSIENT


def test_a_classified_failure_passes_through() -> None:
    failure = SendFailure(ErrorClass.PAUSE, "SendingPausedException")
    assert classify_exception(failure) is failure
