"""The broker settings: its kind by URL scheme, and the Redis every process shares."""

from __future__ import annotations

import pytest

from worker.core.config import ConfigError, Settings, load_settings

RABBITMQ = "amqp://guest:guest@rabbit.internal:5672/trialalerts"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        (None, "in-process"),
        ("redis://127.0.0.1:6379/0", "redis"),
        ("rediss://redis.internal:6380/0", "redis"),
        ("amqp://guest:guest@127.0.0.1:5672/", "rabbitmq"),
        ("amqps://user:secret@rabbit.internal:5671/prod", "rabbitmq"),
    ],
)
def test_the_broker_url_scheme_names_the_broker(url: str | None, kind: str) -> None:
    env = {"TRIALALERTS_REDIS_URL": "redis://127.0.0.1:6379/0"}
    if url:
        env["TRIALALERTS_BROKER_URL"] = url
    assert load_settings(env).broker_kind == kind


def test_a_redis_broker_is_also_the_shared_redis_unless_another_is_named() -> None:
    broker = "redis://127.0.0.1:6379/0"
    assert load_settings({"TRIALALERTS_BROKER_URL": broker}).redis_url == broker
    own = load_settings(
        {"TRIALALERTS_BROKER_URL": broker, "TRIALALERTS_REDIS_URL": "redis://limits:6379/3"}
    )
    assert (own.broker_url, own.redis_url) == (broker, "redis://limits:6379/3")
    assert Settings(broker_url=broker).redis_url == broker


def test_rabbitmq_takes_the_shared_redis_from_its_own_setting() -> None:
    settings = load_settings(
        {"TRIALALERTS_BROKER_URL": RABBITMQ, "TRIALALERTS_REDIS_URL": "redis://r:6379/0"}
    )
    assert (settings.broker_url, settings.redis_url) == (RABBITMQ, "redis://r:6379/0")


def test_rabbitmq_without_a_redis_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="set TRIALALERTS_REDIS_URL too"):
        load_settings({"TRIALALERTS_BROKER_URL": RABBITMQ})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRIALALERTS_BROKER_URL", "kafka://user:secret@kafka:9092"),
        ("TRIALALERTS_REDIS_URL", "amqp://user:secret@rabbit:5672/"),
    ],
)
def test_an_unknown_scheme_is_refused_without_showing_the_password(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name) as refused:
        load_settings({"TRIALALERTS_BROKER_URL": RABBITMQ, name: value})
    assert "secret" not in str(refused.value)
