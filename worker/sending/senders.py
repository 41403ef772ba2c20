"""The sender chosen by TRIALALERTS_EMAIL_BACKEND: the file outbox or Amazon SES."""

from __future__ import annotations

import threading

from worker.core.config import ConfigError, Settings
from worker.core.runtime import Runtime
from worker.sending.outbox import FileOutbox, Sender
from worker.sending.ses_options import SesOptions, ses_options

_FIRST_USE = threading.Lock()


def sender_of(runtime: Runtime) -> Sender:
    """The process's sender, built once on first use.

    By one thread: a worker's threads all ask at their first message, and
    each would otherwise build SES clients of its own (about 0.1 s of CPU
    each, eight at once on a fresh worker) and a gate of its own.
    """
    with _FIRST_USE:
        return runtime.part("sender", lambda: make_sender(runtime.settings))


def make_sender(settings: Settings, options: SesOptions | None = None) -> Sender:
    if settings.email_backend == "file":
        return FileOutbox.from_settings(settings)
    if settings.email_backend == "ses":
        return ses_sender(settings, options or ses_options())
    raise ConfigError(f"TRIALALERTS_EMAIL_BACKEND={settings.email_backend!r} is not a backend")


def ses_sender(settings: Settings, options: SesOptions) -> Sender:
    """SES v2 with a gate shared by all workers (Redis) or by this process (embedded)."""
    import boto3
    from botocore.exceptions import NoRegionError

    from worker.sending.gate import shared_gate
    from worker.sending.ses import (
        READ_ATTEMPTS,
        SEND_ATTEMPTS,
        ClientTimeouts,
        SesSender,
        make_client,
        read_account,
        sender_address,
    )

    timeouts = ClientTimeouts(options.connect_timeout, options.read_timeout)
    session = boto3.session.Session()
    try:
        send_client = make_client(SEND_ATTEMPTS, timeouts, session)
        account_client = make_client(READ_ATTEMPTS, timeouts, session)
    except NoRegionError:
        raise ConfigError(
            "TRIALALERTS_EMAIL_BACKEND=ses needs an AWS region (AWS_REGION or AWS_DEFAULT_REGION)"
        ) from None
    gate = shared_gate(
        settings.redis_url,
        read_account=lambda: read_account(account_client),
        rate_fraction=settings.ses_rate_fraction,
        fallback_rate=settings.ses_max_rate,
        check_seconds=options.account_check_seconds,
    )
    return SesSender(
        send_client,
        from_address=sender_address(settings.mail_from),
        configuration_set=settings.ses_configuration_set,
        gate=gate,
    )
