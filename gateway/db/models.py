"""The gateway's own tables: customer registry, relationships, consents and used token ids.

No table holds a plaintext national id number: `customers` keeps only the keyed blind index
(for look-up) and the AES-GCM ciphertext (개인정보 보호법 제24조의2 ③, 시행령 제21조의2:
resident registration numbers must be stored encrypted).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Sequence,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base
from gateway.db.customer_numbers import SEQUENCE_NAME, next_customer_no

# PostgreSQL only: `create_all` skips sequences on SQLite, where `next_customer_no` is max() + 1
Sequence(SEQUENCE_NAME, start=1, metadata=Base.metadata)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    SQLite has no time zones: values go in as naive UTC and come back made aware again, so
    code never compares a naive with an aware datetime. Naive input is refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given where a timezone-aware one is required")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got `{type(value).__name__}`")
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Customer(Base):
    """The registry: one row per group customer, found by the blind index of their RRN."""

    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint("id_kind IN ('resident', 'foreigner')", name="id_kind"),
    )

    customer_key: Mapped[str] = mapped_column(CHAR(32), primary_key=True)
    rrn_blind_index: Mapped[bytes] = mapped_column(LargeBinary, unique=True, index=True)
    rrn_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    id_kind: Mapped[str] = mapped_column(String(16))
    id_form: Mapped[str] = mapped_column(String(32))
    key_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # the numeric id legacy columns hold (`ff1-13` pseudonyms); drawn by the INSERT itself
    customer_no: Mapped[int] = mapped_column(BigInteger, default=next_customer_no(),
                                             unique=True, index=True)


class Relationship(Base):
    """Which affiliate holds which customer (a customer may be held by several)."""

    __tablename__ = "relationships"

    customer_key: Mapped[str] = mapped_column(
        CHAR(32), ForeignKey("customers.customer_key", ondelete="CASCADE"), primary_key=True
    )
    affiliate: Mapped[str] = mapped_column(String(32), primary_key=True)
    since: Mapped[date] = mapped_column(Date)


class Consent(Base):
    """One consent as granted; withdrawal sets `withdrawn_at`, rows are never deleted.

    No foreign key to `customers` on purpose: consent evidence must outlive changes to the
    registry (개인정보 보호법 제22조: the controller must be able to prove consent).
    """

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_customer_recipient_purpose",
                            "customer_key", "recipient", "purpose"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_key: Mapped[str] = mapped_column(CHAR(32))
    recipient: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(64))
    categories: Mapped[str] = mapped_column(Text)  # sorted JSON array: ["contact","financial"]
    channel: Mapped[str | None] = mapped_column(String(32), nullable=True)
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    evidence_ref: Mapped[str] = mapped_column(Text)
    granted_by_system: Mapped[str] = mapped_column(String(64))
    granted_by_employee: Mapped[str] = mapped_column(String(128))
    # marketing (migration 0005): night contact 21:00–08:00 KST (정보통신망법 제50조 ③), the last
    # (re)confirmation (제50조 ⑧; the grant itself at first), the notice of the right to refuse
    night_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    refusal_right_notified: Mapped[bool] = mapped_column(Boolean, default=False)


class ContactStop(Base):
    """A customer's stop on marketing contact (수신거부, 연락중지청구 — 신용정보법 제37조 ②).

    `scope` NULL: every affiliate of the group; `channels` NULL: every channel. Lifting sets
    `lifted_at`; rows are never deleted (the stop is evidence, like a consent). No free text:
    `reason` is a code, so no column can come to hold a national id number.
    """

    __tablename__ = "contact_stops"
    __table_args__ = (Index("ix_contact_stops_customer_key", "customer_key"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_key: Mapped[str] = mapped_column(CHAR(32))
    scope: Mapped[str | None] = mapped_column(String(32), nullable=True)
    channels: Mapped[str | None] = mapped_column(Text, nullable=True)  # sorted JSON array
    reason: Mapped[str] = mapped_column(String(32))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    registered_by_system: Mapped[str] = mapped_column(String(64))
    registered_by_employee: Mapped[str] = mapped_column(String(128))
    lifted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    lifted_by_system: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lifted_by_employee: Mapped[str | None] = mapped_column(String(128), nullable=True)


class ContactEvent(Base):
    """One marketing contact released to a recipient: a customer's contact attribute released
    under a marketing purpose on `channel`, in the access record at `log_index` (issue #10).

    Written by the access-log writer in the same transaction as that record, under the log's
    append lock, after counting the customer's events in the cap's window: the count and the
    increment are one step (`gateway.accesslog.contacts`). Several customers may share one
    record (a campaign batch); a customer is counted once per record and channel.
    """

    __tablename__ = "contact_events"
    __table_args__ = (Index("ix_contact_events_customer_channel_at",
                            "customer_key", "channel", "at"),)

    log_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    customer_key: Mapped[str] = mapped_column(CHAR(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class CustomerLogEntry(Base):
    """One access record concerning a customer: the per-customer index of the log (issue #11).

    Written by the access-log writer in the same transaction as the record it points to
    (`gateway.accesslog.customer_index`), so a customer's history reads only that customer's
    rows (신용정보법 제35조: who used or received the customer's credit information, when, why)
    and never lags the log. `at` is the record's own `time`, to select a period.
    """

    __tablename__ = "customer_log_index"
    __table_args__ = ({"sqlite_with_rowid": False},)

    customer_key: Mapped[str] = mapped_column(CHAR(32), primary_key=True)
    log_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    # the record's declared purpose, if any: a purpose the policy hides from the history
    # (`history: shown: false`) is counted, not listed, without reading the records
    purpose: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RateCount(Base):
    """How many requests, or distinct customers, one subject (`system:<id>` or
    `employee:<system>/<sub>`) had in one fixed window (`bucket`: the window's number) of one
    measure, and whether that window's alert record was written (issue #12).

    Written only by the access-log writer under the log's append lock, in the same transaction as
    the records it counts, so that the count is exact across processes
    (`gateway.accesslog.usage`, docs/RATE-LIMITS.md).
    """

    __tablename__ = "rate_counts"
    __table_args__ = {"sqlite_with_rowid": False}  # rows kept in the key's B-tree: one write

    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    measure: Mapped[str] = mapped_column(String(32), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(BigInteger)
    alerted: Mapped[bool] = mapped_column(Boolean)


class RateCustomer(Base):
    """One customer counted for a subject in one hour or day window (`window`: `hour`/`day`):
    the distinct-customer measures count these rows (old windows are purged by the writer)."""

    __tablename__ = "rate_customers"
    __table_args__ = {"sqlite_with_rowid": False}  # rows kept in the key's B-tree: one write

    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    window: Mapped[str] = mapped_column(String(8), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    customer_key: Mapped[str] = mapped_column(CHAR(32), primary_key=True)


class Campaign(Base):
    """A campaign extraction (issue #10): who asked, for what, its progress and its end.

    The access log holds the authoritative records (`campaign.open`, `campaign.batch`,
    `campaign.close`); this row is the index that `GET /v1/campaigns/{id}`, the destruction
    confirmation and `gateway review overdue` read. `reason` and `ticket` were refused when they
    held a national id number.
    """

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_use_by", "use_by"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(32))
    system: Mapped[str] = mapped_column(String(64))
    employee: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    ticket: Mapped[str] = mapped_column(String(128))
    segment: Mapped[str] = mapped_column(Text)  # canonical JSON of the filters
    policy_version: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))  # running, complete, disconnected, failed
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    use_by: Mapped[datetime] = mapped_column(UtcDateTime)
    candidates: Mapped[int] = mapped_column(BigInteger, default=0)
    released: Mapped[int] = mapped_column(BigInteger, default=0)
    sent: Mapped[int] = mapped_column(BigInteger, default=0)
    withheld: Mapped[str] = mapped_column(Text, default="{}")  # reason → customers, JSON
    open_index: Mapped[int] = mapped_column(BigInteger)
    close_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    root: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    destroyed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    destruction_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class CampaignLeaf(Base):
    """One released customer of a campaign, in stream order: the leaf the closing record's
    Merkle root commits to (docs/CAMPAIGN-COMMITMENT.md). `leaf` is the canonical JSON of
    {customer_key, pseudonym, fields, views}: no contact value, no national id."""

    __tablename__ = "campaign_leaves"
    __table_args__ = (Index("ix_campaign_leaves_customer", "campaign_id", "customer_key"),
                      # a customer's campaigns, for the access history (issue #11)
                      Index("ix_campaign_leaves_customer_key", "customer_key"))

    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    customer_key: Mapped[str] = mapped_column(CHAR(32))
    leaf: Mapped[bytes] = mapped_column(LargeBinary)


class PolicySet(Base):
    """A policy set the gateway has seen: pending (checked, waiting for a second officer),
    live (approved; exactly one row), superseded (a newer set was proposed before it was
    approved) or retired (was live). `files` holds the four YAML files' exact text as a JSON
    object, so that every process, now or after a restart, builds the live set from the bytes
    that were approved, not from whatever is on disk (issue #12: four eyes).

    The access log holds the authoritative records (`policy.proposed`, `policy.approved`); this
    row is the state the processes read.
    """

    __tablename__ = "policy_sets"
    __table_args__ = (Index("ix_policy_sets_state", "state"),)

    version: Mapped[str] = mapped_column(String(80), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # pending, live, superseded, retired
    files: Mapped[str] = mapped_column(Text)  # JSON object: file name → exact text
    detected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    detected_by: Mapped[str] = mapped_column(String(32))  # file-watch, sighup, api, cli, start
    proposed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    proposed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    proposal_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    approval_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Release(Base):
    """One access record that released something to a recipient, with its use-by date and, once
    the recipient confirmed destruction, the index of that confirmation's record.

    A follower of the log writes these rows (`gateway.rights.releases`): the query path pays
    nothing for them, and they can always be rebuilt from the log. The partial index holds only
    releases not yet confirmed, ordered by use-by: `gateway review overdue` reads the front of it.
    """

    __tablename__ = "releases"
    __table_args__ = (Index("ix_releases_open_use_by", "use_by",
                            sqlite_where=text("destruction_index IS NULL"),
                            postgresql_where=text("destruction_index IS NULL")),)

    log_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    recipient: Mapped[str] = mapped_column(String(32))
    use_by: Mapped[date] = mapped_column(Date)  # KST calendar day
    destruction_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class LogFollower(Base):
    """Where a follower of the access log stands: the next index it has not yet read."""

    __tablename__ = "log_followers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_index: Mapped[int] = mapped_column(BigInteger)


class UsedToken(Base):
    """JWT ids already seen, kept until the token expires (RFC 7519 §4.1.7: replay refusal)."""

    __tablename__ = "used_tokens"

    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    system: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


def create_gateway_schema(engine: Engine) -> None:
    """Create every gateway table that does not exist yet (tests and the embedded default).

    Production schemas go through Alembic (`gateway/migrations`); this is its shortcut.
    """
    Base.metadata.create_all(engine)
