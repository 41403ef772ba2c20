"""TRIALALERTS_SES_RATE_FRACTION: the share of MaxSendRate all workers use, at most 0.95."""

from __future__ import annotations

import pytest

from worker.core.config import MAX_SES_RATE_FRACTION, ConfigError, Settings, load_settings
from worker.sending.gate import gate_of
from worker.sending.senders import ses_sender
from worker.sending.ses_options import SesOptions

NAME = "TRIALALERTS_SES_RATE_FRACTION"


def test_the_default_stays_at_nine_tenths_and_the_most_allowed_is_095() -> None:
    assert load_settings({}).ses_rate_fraction == 0.9
    assert load_settings({NAME: "0.95"}).ses_rate_fraction == MAX_SES_RATE_FRACTION == 0.95
    assert load_settings({NAME: " 0.5 "}).ses_rate_fraction == 0.5


@pytest.mark.parametrize("value", ["0.96", "1", "0", "-0.2", "nan", "inf", "fast"])
def test_a_fraction_outside_0_to_095_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match=NAME):
        load_settings({NAME: value})


def test_the_senders_gate_paces_at_the_configured_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings = Settings(email_backend="ses", ses_rate_fraction=0.95, secret_keys=("k" * 16,))

    gate = gate_of(ses_sender(settings, SesOptions()))

    assert gate.rate_fraction == 0.95
    assert gate.pacer.rate() == pytest.approx(14.0 * 0.95)  # the fallback rate, before GetAccount
