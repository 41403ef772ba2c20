"""The shared stop switch: when sending is held, and when it resumes."""

from __future__ import annotations

import pytest
import redis

from worker.sending.control import (
    AccountStatus,
    Hold,
    MemoryControl,
    RedisControl,
    hold_after_check,
    new_hold,
)

HEALTHY = AccountStatus(max_send_rate=14, max_24_hour_send=50_000, sent_last_24_hours=10)
PAUSED = new_hold("pause", "SendingPausedException", "paused", now=100.0, recheck=300.0)


def test_a_healthy_account_with_no_hold_stays_unheld() -> None:
    assert hold_after_check(None, HEALTHY, 100.0, 300.0) is None


def test_an_account_that_cannot_send_is_held_whatever_was_known() -> None:
    shut = AccountStatus(14, 50_000, 0, sending_enabled=True, enforcement_status="SHUTDOWN")
    disabled = AccountStatus(14, 50_000, 0, sending_enabled=False)
    for account in (shut, disabled):
        hold = hold_after_check(None, account, 100.0, 300.0)
        assert hold is not None and hold.reason == "pause" and hold.recheck_at == 400.0


def test_a_spent_quota_is_held_as_quota() -> None:
    spent = AccountStatus(14, 200, 200)
    hold = hold_after_check(None, spent, 100.0, 300.0)
    assert hold is not None and hold.reason == "quota"
    assert AccountStatus(14, -1, 10**9).quota_left is None  # unlimited


def test_a_hold_stays_until_its_recheck_time_even_when_the_account_looks_healthy() -> None:
    assert hold_after_check(PAUSED, HEALTHY, 399.0, 300.0) == PAUSED
    assert hold_after_check(PAUSED, HEALTHY, 400.0, 300.0) is None


def test_without_get_account_the_hold_lifts_at_recheck_and_the_next_send_probes() -> None:
    assert hold_after_check(PAUSED, None, 399.0, 300.0) == PAUSED
    assert hold_after_check(PAUSED, None, 400.0, 300.0) is None


def test_a_renewed_hold_keeps_when_it_started() -> None:
    disabled = AccountStatus(14, 50_000, 0, sending_enabled=False)
    renewed = hold_after_check(PAUSED, disabled, 500.0, 300.0)
    assert renewed is not None and (renewed.since, renewed.recheck_at) == (100.0, 800.0)


@pytest.fixture(params=["memory", "redis"])
def control(request: pytest.FixtureRequest) -> MemoryControl | RedisControl:
    if request.param == "memory":
        return MemoryControl()
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    request.addfinalizer(client.close)
    return RedisControl(client, prefix="test:control")


def test_setting_a_hold_reports_only_the_first_time(control: MemoryControl | RedisControl) -> None:
    assert control.hold() is None
    assert control.set_hold(PAUSED) is True
    assert control.set_hold(PAUSED) is False
    assert control.hold() == PAUSED
    assert control.clear_hold() == PAUSED
    assert control.hold() is None and control.clear_hold() is None


def test_one_caller_at_a_time_gets_the_account_check(control: MemoryControl | RedisControl) -> None:
    assert control.take_turn("account", 60.0) is True
    assert control.take_turn("account", 60.0) is False


def test_an_unreadable_hold_in_redis_is_still_a_hold(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    control = RedisControl(client, prefix="test:control")
    client.set(control.hold_key, "not json")
    hold = control.hold()
    client.close()
    assert isinstance(hold, Hold) and hold.reason == "pause"
