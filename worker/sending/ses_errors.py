"""What a failed send means: the five error classes of SES v2, and one more for timeouts.

Each class has exactly one retry layer (see worker/sending/loop.py):

- rate: SES says we are too fast.  The shared pacer slows down and the
  message goes round again; not a failure.
- quota: the 24-hour sending quota is spent.  Digests pause until a recheck
  finds room.
- pause: the account cannot send at all (paused, suspended, identity or
  configuration set missing, credentials refused).  All sending stops on all
  workers until a recheck finds the account healthy.
- permanent: this message can never be sent as it is.  Failed, never retried.
- transient: 5xx or a connection that never carried the request.  Retried with
  bounded exponential backoff and jitter.
- uncertain: the request went out and no answer came back (read timeout,
  connection dropped mid-response).  SES may have accepted it and SendEmail has
  no idempotency token, so it is retried at most once, and counted.

Pure: classification looks only at the error code, HTTP status and message.
"""

from __future__ import annotations

from enum import StrEnum

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ReadTimeoutError,
    ResponseStreamingError,
)


class ErrorClass(StrEnum):
    RATE = "rate"
    QUOTA = "quota"
    PAUSE = "pause"
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    UNCERTAIN = "uncertain"


RATE_CODES = frozenset(
    {"TooManyRequestsException", "Throttling", "ThrottlingException", "MaxSendRateExceeded"}
)
QUOTA_CODES = frozenset({"LimitExceededException"})
PAUSE_CODES = frozenset(
    {
        "SendingPausedException",
        "AccountSuspendedException",
        "MailFromDomainNotVerifiedException",
        "NotFoundException",
        # Credentials and permissions: every send would be refused the same way.
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "MissingAuthenticationToken",
    }
)
PERMANENT_CODES = frozenset({"MessageRejected", "BadRequestException", "ValidationException"})
TRANSIENT_CODES = frozenset(
    {
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# SES v1 reports the spent daily quota as a throttling error; match the words too.
QUOTA_WORDS = ("daily message quota", "24 hour", "24-hour", "sending quota")
PAUSE_STATUSES = frozenset({401, 403, 404})


class SendFailure(Exception):
    """A send that did not succeed, with its class; raised by senders, handled by sending."""

    def __init__(self, error_class: ErrorClass, code: str, message: str = "") -> None:
        super().__init__(
            f"{error_class}: {code}: {message}" if message else f"{error_class}: {code}"
        )
        self.error_class = error_class
        self.code = code
        self.message = message


def classify(code: str | None, status: int | None, message: str = "") -> ErrorClass:
    """The class of an error answer from SES, by code first, then message, then status."""
    code = code or ""
    lowered = message.lower()
    if code in QUOTA_CODES or (
        (code in RATE_CODES or status == 429) and any(w in lowered for w in QUOTA_WORDS)
    ):
        return ErrorClass.QUOTA
    if code in RATE_CODES or status == 429:
        return ErrorClass.RATE
    if code in PAUSE_CODES:
        return ErrorClass.PAUSE
    if code in PERMANENT_CODES:
        return ErrorClass.PERMANENT
    if code in TRANSIENT_CODES or (status is not None and status >= 500):
        return ErrorClass.TRANSIENT
    if status in PAUSE_STATUSES:
        return ErrorClass.PAUSE
    # Any other refusal of this request will be refused again the same way.
    return ErrorClass.PERMANENT


def classify_exception(error: BaseException) -> SendFailure:
    """A botocore (or socket) exception as a classified failure."""
    if isinstance(error, SendFailure):
        return error
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code") or "")
        message = str(details.get("Message") or "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return SendFailure(classify(code, status, message), code or f"HTTP {status}", message)
    if isinstance(error, ReadTimeoutError | ConnectionClosedError | ResponseStreamingError):
        # The request was written; SES may have accepted it.
        return SendFailure(ErrorClass.UNCERTAIN, type(error).__name__, str(error))
    # Connect errors never carried the request; anything else unexpected is
    # retried a bounded number of times before the delivery gives up.
    return SendFailure(ErrorClass.TRANSIENT, type(error).__name__, str(error))
