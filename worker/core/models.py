"""Tables: every unit of work is a row with a state (the database is the truth).

Unique constraints carry the idempotence promises: one received event per
(source, id), one notification per (subscriber, change), one delivery per
(subscriber, frequency, window).
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from worker.core.cadence import DEFAULT_FREQUENCY, DEFAULT_SEND_HOUR, DEFAULT_TIMEZONE
from worker.core.delivery_states import State

# BIGINT autoincrement ids on PostgreSQL; SQLite needs INTEGER to alias rowid.
Id = BigInteger().with_variant(sqlite.INTEGER(), "sqlite")
# Plain JSON (text on PostgreSQL): records are written far more often than queried.
Json = JSON()


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, on SQLite (naive storage) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class EligibilityAsk:
    """Who the subscriber is, for studies they could join (absent: not asked).

    Shared by subscriptions, the sign-ups they come from and the criteria they
    point at: `age` in whole years, `sex` female/male, `healthy_volunteers`
    true or absent, `phases` and `study_types` registry values (None or []: any).
    """

    age: Mapped[int | None] = mapped_column(Integer)
    sex: Mapped[str | None] = mapped_column(String(6))
    healthy_volunteers: Mapped[bool | None] = mapped_column(Boolean)
    phases: Mapped[Any] = mapped_column(Json, nullable=True)
    study_types: Mapped[Any] = mapped_column(Json, nullable=True)


class ReceivedEvent(Base):
    """An accepted CloudEvent; `outcome` is pending until ingest decides."""

    __tablename__ = "received_events"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(500))
    event_id: Mapped[str] = mapped_column(String(500))
    type: Mapped[str] = mapped_column(String(200))
    nct_id: Mapped[str] = mapped_column(String(11), index=True)
    time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_update: Mapped[str | None] = mapped_column(String(10))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(20), default="pending")
    ingested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The event exactly as received (its `data` is the study record) and the
    # summary extracted at publish time, so ingest never re-parses big records.
    payload: Mapped[str] = mapped_column(Text)
    summary: Mapped[Any] = mapped_column(Json, nullable=True)
    # Set by ingest for an event that became the study's snapshot: whether it
    # changed what condition matching reads (conditions, keywords, MeSH terms,
    # status, sites) against the snapshot before it.  When it did not, nothing
    # can newly match, and matching need not read the previous summary.  None:
    # not known (stale, pending, or ingested before this column existed).
    matching_changed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    __table_args__ = (
        UniqueConstraint("source", "event_id"),
        Index("ix_received_events_pending", "outcome", "id"),
    )


class Study(Base):
    """The latest snapshot of a study: the summary we diff and match on.

    The full record is the `data` of the event that delivered it (`event_pk`),
    stored once, in received_events.
    """

    __tablename__ = "studies"
    nct_id: Mapped[str] = mapped_column(String(11), primary_key=True)
    event_pk: Mapped[int] = mapped_column(ForeignKey("received_events.id"))
    title: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(40), default="")
    summary: Mapped[Any] = mapped_column(Json)
    last_update: Mapped[str | None] = mapped_column(String(10))
    event_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StudyChange(Base):
    __tablename__ = "study_changes"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    nct_id: Mapped[str] = mapped_column(String(11), index=True)
    event_pk: Mapped[int] = mapped_column(ForeignKey("received_events.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    field: Mapped[str | None] = mapped_column(Text)
    before: Mapped[Any] = mapped_column(Json, nullable=True)
    after: Mapped[Any] = mapped_column(Json, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (Index("ix_study_changes_unmatched", "matched_at", "event_pk"),)


class DeadLetter(Base):
    """Rejected input, kept with its raw payload and the reason; the same payload is kept once."""

    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    origin: Mapped[str] = mapped_column(String(200))
    line: Mapped[int | None] = mapped_column(Integer)
    event_id: Mapped[str | None] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def new_link_key() -> str:
    """A random key kept in a row and signed into its links: the links die with the row."""
    return secrets.token_urlsafe(16)


class Subscriber(Base):
    __tablename__ = "subscribers"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # Signed into every link of this subscriber (see core.tokens); a new key
    # disowns all older links. `legacy_links`: the row predates link keys, so
    # links minted before them (without a key) still work for it alone.
    link_key: Mapped[str] = mapped_column(String(32), default=new_link_key)
    legacy_links: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    send_hour: Mapped[int] = mapped_column(Integer, default=DEFAULT_SEND_HOUR)
    soft_bounces: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Criteria(EligibilityAsk, Base):
    """What a condition subscription asks for, normalized: shared by all who ask the same.

    Rows never change once written, so workers may cache them; `match_key` is
    the one word a study must contain for this criteria to be a candidate.
    """

    __tablename__ = "criteria"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    signature: Mapped[str] = mapped_column(Text, unique=True)
    words: Mapped[str] = mapped_column(Text)
    match_key: Mapped[str] = mapped_column(String(100), index=True)
    statuses: Mapped[Any] = mapped_column(Json)
    countries: Mapped[Any] = mapped_column(Json)
    near_lat: Mapped[float | None] = mapped_column(Float)
    near_lon: Mapped[float | None] = mapped_column(Float)
    near_km: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CriteriaMatch(Base):
    """No longer written or read: "newly matches" is judged against the study's previous
    snapshot (worker/matching/fanout.py).  Kept so that the schema needs no migration."""

    __tablename__ = "criteria_matches"
    criteria_id: Mapped[int] = mapped_column(ForeignKey("criteria.id"), primary_key=True)
    nct_id: Mapped[str] = mapped_column(String(11), primary_key=True)


class Subscription(EligibilityAsk, Base):
    """A condition alert or a study follow, as the subscriber wrote it."""

    __tablename__ = "subscriptions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    identity: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(10))
    condition: Mapped[str | None] = mapped_column(Text)
    nct_id: Mapped[str | None] = mapped_column(String(11))
    criteria_id: Mapped[int | None] = mapped_column(ForeignKey("criteria.id"))
    frequency: Mapped[str] = mapped_column(String(10), default=DEFAULT_FREQUENCY)
    statuses: Mapped[Any] = mapped_column(Json, default=list)
    countries: Mapped[Any] = mapped_column(Json, default=list)
    near_lat: Mapped[float | None] = mapped_column(Float)
    near_lon: Mapped[float | None] = mapped_column(Float)
    near_km: Mapped[float | None] = mapped_column(Float)
    # The place `near` was given as ("Milan, Italy", "10001"), kept for export and pages.
    near_place: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (
        UniqueConstraint("subscriber_id", "identity"),
        Index("ix_subscriptions_criteria_id", "criteria_id"),
        Index("ix_subscriptions_nct_id", "nct_id"),
    )


class Notification(Base):
    """A change a subscriber should hear about, pending until a delivery takes it."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    change_id: Mapped[int] = mapped_column(ForeignKey("study_changes.id"))
    nct_id: Mapped[str] = mapped_column(String(11))
    subscription_ids: Mapped[Any] = mapped_column(Json)
    frequency: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), index=True)
    # For a `near` subscription: the site near the subscriber this is about (one
    # that opened, or a new match's nearest) with its distance, for the digest
    # to name (worker/matching/nearby.py SiteNote).  None otherwise.
    near_site: Mapped[Any] = mapped_column(Json, nullable=True)
    __table_args__ = (
        UniqueConstraint("subscriber_id", "change_id"),
        Index("ix_notifications_pending", "subscriber_id", "frequency", "delivery_id"),
    )


class Delivery(Base):
    """One digest email for (subscriber, frequency, window), with its send state."""

    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    frequency: Mapped[str] = mapped_column(String(10))
    window: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(20), default=State.QUEUED, index=True)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (
        UniqueConstraint("subscriber_id", "frequency", "window"),
        Index("ix_deliveries_message_id", "message_id"),
    )


class Suppression(Base):
    """An address never to be sent to again (hard bounce, complaint, admin)."""

    __tablename__ = "suppressions"
    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Signup(EligibilityAsk, Base):
    """A public sign-up waiting for its double opt-in; it expires unconfirmed."""

    __tablename__ = "signups"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    condition: Mapped[str | None] = mapped_column(Text)
    nct_id: Mapped[str | None] = mapped_column(String(11))
    frequency: Mapped[str] = mapped_column(String(10), default=DEFAULT_FREQUENCY)
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    near_lat: Mapped[float | None] = mapped_column(Float)
    near_lon: Mapped[float | None] = mapped_column(Float)
    near_km: Mapped[float | None] = mapped_column(Float)
    near_place: Mapped[str | None] = mapped_column(Text)
    client_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    link_key: Mapped[str] = mapped_column(String(32), default=new_link_key)
    legacy_links: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set once the confirmation mail is handed to the sender; the mail is sent
    # from the queue, and the reconciler re-wakes sign-ups still waiting for it.
    mailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FeedbackMessage(Base):
    """An SES feedback notification taken from SQS, kept once per SNS MessageId."""

    __tablename__ = "feedback_messages"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sns_message_id: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RegistryCursor(Base):
    """Where the ClinicalTrials.gov poller stands, one row per API base URL, and who polls it.

    `day`: every study last updated before it is stored as an event; the next
    poll starts there and reads that day again.  `data_timestamp`: the
    registry's data version of the last complete poll.  `followed_at`: the last
    complete re-fetch of followed studies.  `holder` may publish and move this
    row until `lease_until` (see worker/registry/cursor.py).
    """

    __tablename__ = "registry_cursors"
    source: Mapped[str] = mapped_column(String(500), primary_key=True)
    day: Mapped[date | None] = mapped_column(Date)
    data_timestamp: Mapped[str | None] = mapped_column(String(40))
    followed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    holder: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AdminUser(Base):
    """A person who may use the admin console (`trialalerts admin add-user`).

    `session_nonce` is part of every session cookie of this user: a new value
    (logout) or a removed row ends all their sessions at their next request.
    """

    __tablename__ = "admin_users"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    session_nonce: Mapped[str] = mapped_column(String(32), default=new_link_key)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AdminLoginFailure(Base):
    """A failed console login, kept for unknown addresses too so that both lock alike."""

    __tablename__ = "admin_login_failures"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuditEntry(Base):
    """One admin state change: who (`actor`), what (`action` on `target`), when, before/after."""

    __tablename__ = "audit_entries"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(400))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(Text)
    before: Mapped[Any] = mapped_column(Json, nullable=True)
    after: Mapped[Any] = mapped_column(Json, nullable=True)


class AdminImport(Base):
    """A subscriptions file uploaded in the console, checked then applied in the background.

    The file is kept (`content`, at most TRIALALERTS_ADMIN_UPLOAD_MB) so the
    apply step reads exactly what the dry run reported on.  `checkpoint` is
    where an apply stopped (worker.subscriptions.imports.Checkpoint), while
    it runs or after it failed: it resumes from there.
    """

    __tablename__ = "admin_imports"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    filename: Mapped[str] = mapped_column(String(500))
    format: Mapped[str] = mapped_column(String(10))
    content: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))
    lines_total: Mapped[int | None] = mapped_column(Integer)
    lines_done: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[Any] = mapped_column(Json, nullable=True)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    checkpoint: Mapped[Any] = mapped_column(Json, nullable=True)


# Prefix search in the console on PostgreSQL (`LIKE 'text%'`, index-backed whatever the
# collation): addresses are stored lower-cased; conditions are searched as lower(condition).
Index(
    "ix_subscribers_email_prefix", Subscriber.email, postgresql_ops={"email": "text_pattern_ops"}
).ddl_if(dialect="postgresql")
Index(
    "ix_subscriptions_condition_prefix",
    func.lower(Subscription.condition).label("condition_lower"),
    postgresql_ops={"condition_lower": "text_pattern_ops"},
).ddl_if(dialect="postgresql")


def _ids_never_reused() -> None:
    """AUTOINCREMENT on SQLite, as PostgreSQL's sequences already behave.

    Without it SQLite hands a deleted row's id to the next row, and whatever
    still names the old id (a link, a queued message) would reach the new one.
    """
    for table in Base.metadata.tables.values():
        key = list(table.primary_key.columns)
        if len(key) == 1 and key[0].name == "id":
            table.dialect_kwargs["sqlite_autoincrement"] = True


_ids_never_reused()
