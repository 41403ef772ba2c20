"""Typed settings read once from the environment.

Every variable is parsed here and nowhere else, so a bad value fails at
start-up with one line naming the variable (the CLI turns it into exit 2).
"""

from __future__ import annotations

import math
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

import email_validator

from worker.core.cadence import DEFAULT_SEND_HOUR
from worker.core.private_files import NotOwnFile, create_private, read_own_file


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


EMAIL_BACKENDS = ("file", "ses")
# The broker is chosen by the scheme of TRIALALERTS_BROKER_URL (worker.queue.broker).
REDIS_SCHEMES = ("redis", "rediss")
RABBITMQ_SCHEMES = ("amqp", "amqps")
DEFAULT_DATABASE_URL = "sqlite:///trialalerts.db"
KEY_FILE = ".trialalerts-secret"
MIN_SECRET_LENGTH = 16  # signing keys and the ingest bearer token
# The most of SES's MaxSendRate all workers may plan to use: the pacer lets one
# send more than its rate into a sliding second, and other senders may share the account.
MAX_SES_RATE_FRACTION = 0.95
_NAMED_ADDRESS = re.compile(r"([^<>]*)<([^<>]+)>")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


DEFAULT_CTGOV_API_URL = "https://clinicaltrials.gov/api/v2"


@dataclass(frozen=True)
class CtgovSettings:
    """The ClinicalTrials.gov poller (TRIALALERTS_CTGOV_*): polite by default.

    At the defaults the registry sees one `/version` request an hour, the pages
    of each daily refresh, and one request per 100 followed studies a day.
    """

    api_url: str = DEFAULT_CTGOV_API_URL
    max_rps: float = 1.0  # requests a second, retries included
    page_size: int = 1000  # studies a page; the API allows 1 to 1000
    poll_interval_seconds: float = 3600.0  # between two `/version` checks of the poller
    follow_refresh_hours: float = 24.0  # followed studies are re-fetched by id this often
    lease_seconds: int = 300  # a poller silent this long leaves the cursor to another
    retries: int = 6  # attempts after the first, for 429, 5xx, timeouts and bad pages
    backoff_seconds: float = 1.0  # the first retry's wait; doubles up to 64 times it
    metrics_port: int = 9192  # Prometheus metrics of the poller process (0: off)


def _finite_positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = _positive_number(env, name, default, float)
    if not math.isfinite(value):
        raise ConfigError(f"{name}={env.get(name)!r} must be a finite number")
    return value


def _ctgov_settings(env: Mapping[str, str]) -> CtgovSettings:
    default = CtgovSettings
    api_url = _url(env, "TRIALALERTS_CTGOV_API_URL", ("http", "https")) or default.api_url
    return CtgovSettings(
        api_url=api_url.rstrip("/"),
        max_rps=_finite_positive(env, "TRIALALERTS_CTGOV_MAX_RPS", default.max_rps),
        page_size=_int_in_range(env, "TRIALALERTS_CTGOV_PAGE_SIZE", default.page_size, 1, 1000),
        poll_interval_seconds=_finite_positive(
            env, "TRIALALERTS_CTGOV_POLL_INTERVAL_SECONDS", default.poll_interval_seconds
        ),
        follow_refresh_hours=_finite_positive(
            env, "TRIALALERTS_CTGOV_FOLLOW_REFRESH_HOURS", default.follow_refresh_hours
        ),
        lease_seconds=_int_in_range(
            env, "TRIALALERTS_CTGOV_LEASE_SECONDS", default.lease_seconds, 1, 86_400
        ),
        retries=_int_in_range(env, "TRIALALERTS_CTGOV_RETRIES", default.retries, 0, 20),
        backoff_seconds=_finite_positive(
            env, "TRIALALERTS_CTGOV_BACKOFF_SECONDS", default.backoff_seconds
        ),
        metrics_port=_int_in_range(
            env, "TRIALALERTS_CTGOV_METRICS_PORT", default.metrics_port, 0, 65535
        ),
    )


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    broker_url: str | None = None
    # What every process must share whatever the broker: the SES pacer, the sending
    # holds, the scheduler's slot claims. Unset: the broker's own Redis.
    redis_url: str | None = None
    email_backend: str = "file"
    outbox: Path = Path("outbox")
    secret_keys: tuple[str, ...] = field(default=(), repr=False)
    base_url: str = "http://localhost:8000"
    mail_from: str = "Trialalerts <alerts@trialalerts.example>"
    postal_address: str = "Trialalerts, 1 Example Street, 00000 Example City"
    ingest_token: str | None = field(default=None, repr=False)
    ses_configuration_set: str | None = None
    ses_max_rate: float = 14.0
    ses_rate_fraction: float = 0.9  # of MaxSendRate, for all workers together
    feedback_queue_url: str | None = None
    sns_topic_arns: tuple[str, ...] = ()  # SES feedback topics whose HTTPS posts are taken
    send_hour: int = DEFAULT_SEND_HOUR
    instant_delay_seconds: int = 60
    digest_item_cap: int = 25
    ingest_batch_size: int = 500
    metrics_port: int = 9191
    metrics_dir: Path = Path(".trialalerts-metrics")  # the worker's, emptied at its start
    scheduler_metrics_port: int = 9193
    trusted_proxies: int = 0
    sending_lease_seconds: int = 300
    admin_upload_mb: int = 50  # the largest file the admin console takes for an import
    ctgov: CtgovSettings = field(default_factory=CtgovSettings)

    def __post_init__(self) -> None:
        if self.redis_url is None and self.broker_kind == "redis":
            object.__setattr__(self, "redis_url", self.broker_url)

    @property
    def is_embedded(self) -> bool:
        return self.broker_url is None

    @property
    def broker_kind(self) -> str:
        """What TRIALALERTS_BROKER_URL's scheme names: "in-process", "redis" or "rabbitmq"."""
        if self.broker_url is None:
            return "in-process"
        return "rabbitmq" if _is_rabbitmq(self.broker_url) else "redis"


def _is_rabbitmq(url: str) -> bool:
    return urlparse(url).scheme in RABBITMQ_SCHEMES


def _positive_number(env: Mapping[str, str], name: str, default: float, kind: type) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be greater than 0")
    return value


def _int_in_range(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} must be between {low} and {high}")
    return value


def positive_number(
    env: Mapping[str, str], name: str, default: float, high: float = math.inf
) -> float:
    """The number a variable gives, above 0 and at most `high`; its default when unset."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not 0 < value <= high:
        limit = f" and at most {high:g}" if high < math.inf else ""
        raise ConfigError(f"{name}={raw!r} must be greater than 0{limit}")
    return value


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name) or None
    if raw is None:
        return None
    parts = urlparse(raw)
    if parts.scheme.split("+")[0] not in schemes:
        shown = raw.replace(f":{parts.password}@", ":***@") if parts.password else raw
        raise ConfigError(f"{name}={shown!r} must start with one of {', '.join(schemes)}")
    return raw


def _redis_url(env: Mapping[str, str], broker_url: str | None) -> str | None:
    """TRIALALERTS_REDIS_URL: required beside RabbitMQ; a Redis broker's own Redis otherwise."""
    url = _url(env, "TRIALALERTS_REDIS_URL", REDIS_SCHEMES)
    if url is None and broker_url is not None and _is_rabbitmq(broker_url):
        raise ConfigError(
            "TRIALALERTS_BROKER_URL is a RabbitMQ URL: set TRIALALERTS_REDIS_URL too "
            "(redis://…), where all workers share the SES rate limit and sending holds "
            "and the schedulers their slot claims"
        )
    return url


def _base_url(env: Mapping[str, str]) -> str:
    """Where every emailed link points: a scheme and a host, nothing a link would lose."""
    raw = _url(env, "TRIALALERTS_BASE_URL", ("http", "https")) or Settings.base_url
    parts = urlparse(raw)
    if not parts.hostname or parts.username or parts.query or parts.fragment:
        raise ConfigError(
            f"TRIALALERTS_BASE_URL={raw!r} must be http(s)://host[:port][/path], "
            "without user, query or fragment"
        )
    return raw


def _keys(raw: str) -> tuple[str, ...]:
    """Keys newest first, separated by commas or line breaks."""
    return tuple(k.strip() for k in raw.replace("\n", ",").split(",") if k.strip())


def _secret_keys(env: Mapping[str, str], backend: str, key_file: Path) -> tuple[str, ...]:
    """Newest key first; the embedded default generates one key and keeps it (`KEY_FILE`)."""
    keys = _keys(env.get("TRIALALERTS_SECRET_KEY", ""))
    if keys:
        if any(len(k) < MIN_SECRET_LENGTH for k in keys):
            raise ConfigError(
                f"TRIALALERTS_SECRET_KEY: every key must be at least {MIN_SECRET_LENGTH} characters"
            )
        return keys
    if backend == "ses":
        raise ConfigError("TRIALALERTS_SECRET_KEY is required with TRIALALERTS_EMAIL_BACKEND=ses")
    if key_file.exists():
        return read_key_file(key_file)
    return ()


def read_key_file(key_file: Path) -> tuple[str, ...]:
    """The keys of an existing key file (made private first); ConfigError when none is usable.

    An empty or short key would let anyone forge every link, and so would a
    key planted by another user (in a shared folder), or a symbolic link in
    its place (to /etc/passwd, whose lines anyone can read and whose mode must
    not change): such a file is refused, never used; a key file is only ever
    generated where none exists.
    """
    where = f"{key_file} (the signing key file, used while TRIALALERTS_SECRET_KEY is unset)"
    try:
        keys = _keys(read_own_file(key_file, os.geteuid() if hasattr(os, "geteuid") else None))
    except NotOwnFile as error:
        raise ConfigError(f"{where} {error}: it cannot be trusted") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{where} cannot be read: {error}") from None
    if not keys:
        raise ConfigError(
            f"{where} is empty: write a key of at least {MIN_SECRET_LENGTH} characters into it, "
            "or remove it to have one generated"
        )
    if any(len(k) < MIN_SECRET_LENGTH for k in keys):
        raise ConfigError(f"{where}: every key must be at least {MIN_SECRET_LENGTH} characters")
    return keys


def _mail_from(env: Mapping[str, str]) -> str:
    """An address, or `Display Name <address>`, that every email's From header can carry."""
    raw = env.get("TRIALALERTS_FROM") or Settings.mail_from
    named = _NAMED_ADDRESS.fullmatch(raw.strip())
    address = named.group(2).strip() if named else raw.strip()
    try:
        if _CONTROLS.search(raw) or "<" in address or ">" in address:
            raise email_validator.EmailNotValidError("it holds a control character or a bracket")
        email_validator.validate_email(
            address, check_deliverability=False, allow_smtputf8=False, globally_deliverable=False
        )
    except email_validator.EmailNotValidError as error:
        raise ConfigError(
            f"TRIALALERTS_FROM={raw!r} is not an email address or 'Name <address>': {error}"
        ) from None
    return raw.strip()


def _ingest_token(env: Mapping[str, str]) -> str | None:
    """The bearer token of POST /events: unset (the endpoint answers 503) or long enough."""
    token = (env.get("TRIALALERTS_INGEST_TOKEN") or "").strip()
    if token and len(token) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"TRIALALERTS_INGEST_TOKEN must be at least {MIN_SECRET_LENGTH} characters "
            f"(it has {len(token)})"
        )
    return token or None


_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")


def _sns_topic_arns(env: Mapping[str, str]) -> tuple[str, ...]:
    """The topics `POST /ses/sns` takes messages from (comma-separated): no others, ever."""
    arns = tuple(arn.strip() for arn in env.get("TRIALALERTS_SNS_TOPIC_ARNS", "").split(","))
    for arn in arns:
        if arn and not _TOPIC_ARN.fullmatch(arn):
            raise ConfigError(
                f"TRIALALERTS_SNS_TOPIC_ARNS: {arn!r} is not an SNS topic ARN "
                "(arn:aws:sns:REGION:ACCOUNT:NAME)"
            )
    return tuple(arn for arn in arns if arn)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse the environment; raises ConfigError naming the bad variable.

    An unset or empty variable takes the default written on `Settings`, so each
    default lives in one place.
    """
    env = os.environ if env is None else env
    backend = env.get("TRIALALERTS_EMAIL_BACKEND") or Settings.email_backend
    if backend not in EMAIL_BACKENDS:
        raise ConfigError(
            f"TRIALALERTS_EMAIL_BACKEND={backend!r} must be one of {', '.join(EMAIL_BACKENDS)}"
        )
    database_url = (
        _url(env, "TRIALALERTS_DATABASE_URL", ("sqlite", "postgresql")) or DEFAULT_DATABASE_URL
    )
    base_url = _base_url(env)
    send_hour = _int_in_range(env, "TRIALALERTS_SEND_HOUR", Settings.send_hour, 0, 23)
    broker_url = _url(env, "TRIALALERTS_BROKER_URL", REDIS_SCHEMES + RABBITMQ_SCHEMES)
    return Settings(
        database_url=database_url,
        broker_url=broker_url,
        redis_url=_redis_url(env, broker_url),
        email_backend=backend,
        outbox=Path(env.get("TRIALALERTS_OUTBOX") or Settings.outbox),
        secret_keys=_secret_keys(env, backend, Path(KEY_FILE)),
        base_url=base_url.rstrip("/"),
        mail_from=_mail_from(env),
        postal_address=env.get("TRIALALERTS_POSTAL_ADDRESS") or Settings.postal_address,
        ingest_token=_ingest_token(env),
        ses_configuration_set=env.get("TRIALALERTS_SES_CONFIGURATION_SET") or None,
        ses_max_rate=_positive_number(
            env, "TRIALALERTS_SES_MAX_RATE", Settings.ses_max_rate, float
        ),
        ses_rate_fraction=positive_number(
            env, "TRIALALERTS_SES_RATE_FRACTION", Settings.ses_rate_fraction, MAX_SES_RATE_FRACTION
        ),
        feedback_queue_url=_url(env, "TRIALALERTS_FEEDBACK_QUEUE_URL", ("http", "https")),
        sns_topic_arns=_sns_topic_arns(env),
        send_hour=send_hour,
        instant_delay_seconds=int(
            _positive_number(
                env, "TRIALALERTS_INSTANT_DELAY_SECONDS", Settings.instant_delay_seconds, int
            )
        ),
        digest_item_cap=int(
            _positive_number(env, "TRIALALERTS_DIGEST_ITEM_CAP", Settings.digest_item_cap, int)
        ),
        ingest_batch_size=int(
            _positive_number(env, "TRIALALERTS_INGEST_BATCH_SIZE", Settings.ingest_batch_size, int)
        ),
        metrics_port=_int_in_range(
            env, "TRIALALERTS_METRICS_PORT", Settings.metrics_port, 0, 65535
        ),
        metrics_dir=Path(env.get("TRIALALERTS_METRICS_DIR") or Settings.metrics_dir),
        scheduler_metrics_port=_int_in_range(
            env, "TRIALALERTS_SCHEDULER_METRICS_PORT", Settings.scheduler_metrics_port, 0, 65535
        ),
        trusted_proxies=_int_in_range(
            env, "TRIALALERTS_TRUSTED_PROXIES", Settings.trusted_proxies, 0, 10
        ),
        sending_lease_seconds=_int_in_range(
            env, "TRIALALERTS_SENDING_LEASE_SECONDS", Settings.sending_lease_seconds, 1, 86_400
        ),
        admin_upload_mb=_int_in_range(
            env, "TRIALALERTS_ADMIN_UPLOAD_MB", Settings.admin_upload_mb, 1, 1024
        ),
        ctgov=_ctgov_settings(env),
    )


def ensure_secret_key(settings: Settings, key_file: Path = Path(KEY_FILE)) -> Settings:
    """Embedded mode: generate a signing key once and keep it beside the database.

    Only where no key file exists; when another process creates one first,
    its key is the one used (see `create_private`).
    """
    if settings.secret_keys:
        return settings
    key = secrets.token_urlsafe(32)
    if not create_private(key_file, key + "\n"):
        return replace(settings, secret_keys=read_key_file(key_file))
    return replace(settings, secret_keys=(key,))
