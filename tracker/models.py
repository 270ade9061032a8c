"""The SQLAlchemy models: the whole data model of DESIGN §1."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from .timeutil import as_utc

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC on every database; read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Meta(Base):
    """Key-value facts about the database, such as the settings of the last sync."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]]


class Question(Base):
    __tablename__ = "questions"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    resolution_criteria: Mapped[str] = mapped_column(Text, default="")
    opens: Mapped[date] = mapped_column(Date)
    closes: Mapped[date] = mapped_column(Date)
    position: Mapped[int] = mapped_column(Integer, default=0)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved_to: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None]
    # F(now) as last computed by `tracker score`; show and reports read it.
    current: Mapped[dict[str, Any] | None]
    scored_at: Mapped[datetime | None]

    scenarios: Mapped[list[Scenario]] = relationship(
        back_populates="question", order_by="Scenario.position", cascade="all, delete-orphan"
    )
    indicators: Mapped[list[Indicator]] = relationship(
        back_populates="question", order_by="Indicator.position"
    )

    @property
    def status(self) -> str:
        if self.resolved_to is not None:
            return "resolved"
        return "retired" if self.retired else "open"


class Scenario(Base):
    __tablename__ = "scenarios"

    question_id: Mapped[str] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    label: Mapped[str] = mapped_column(Text)
    prior: Mapped[float] = mapped_column(Float)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # An event before `closes`: the ids of the indicators that reveal it ([] for `event: true`);
    # null when the scenario is not an event (docs/model.md, silence).
    event: Mapped[list[Any] | None]

    question: Mapped[Question] = relationship(back_populates="scenarios")


class Indicator(Base):
    __tablename__ = "indicators"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), index=True)
    description: Mapped[str] = mapped_column(Text)
    rule: Mapped[dict[str, Any]]
    likelihood: Mapped[dict[str, Any]]
    cooldown_seconds: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)

    question: Mapped[Question] = relationship(back_populates="indicators")


class Feed(Base):
    __tablename__ = "feeds"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    gone: Mapped[bool] = mapped_column(Boolean, default=False)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    body_hash: Mapped[str | None] = mapped_column(String(64))
    last_polled: Mapped[datetime | None]
    last_success: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    warning: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_poll: Mapped[datetime | None] = mapped_column(index=True)
    # Until when its host asked us to wait (Retry-After, on this feed or another of the host).
    held_until: Mapped[datetime | None]
    # A poll of this feed is claimed by one process at a time (row lease).
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]


class Entry(Base):
    __tablename__ = "entries"
    __table_args__ = (UniqueConstraint("feed_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    feed_id: Mapped[str] = mapped_column(ForeignKey("feeds.id"), index=True)
    key: Mapped[str] = mapped_column(String(255))
    guid: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    published: Mapped[datetime | None]
    fetched_at: Mapped[datetime]
    observed_at: Mapped[datetime] = mapped_column(index=True)

    feed: Mapped[Feed] = relationship()


# Evidence states whose items move no forecast: the analyst's "no", and a rule's withdrawal.
NOT_APPLIED = ("dismissed", "withdrawn")


class Evidence(Base):
    __tablename__ = "evidence"
    __table_args__ = (Index("ix_evidence_indicator_observed", "indicator_id", "observed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"), index=True)
    indicator_id: Mapped[str] = mapped_column(ForeignKey("indicators.id"))
    observed_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20), default="auto")
    note: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # When a changed rule took every hit of an auto item away (state "withdrawn").
    withdrawn_at: Mapped[datetime | None]

    indicator: Mapped[Indicator] = relationship()
    hits: Mapped[list[Hit]] = relationship(back_populates="evidence", order_by="Hit.id")


class Hit(Base):
    __tablename__ = "hits"
    __table_args__ = (UniqueConstraint("entry_id", "indicator_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), index=True)
    indicator_id: Mapped[str] = mapped_column(ForeignKey("indicators.id"))
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id"), index=True)
    terms: Mapped[list[Any]]
    created_at: Mapped[datetime]
    # The sentence that reports the event and the character spans of its terms in it.
    sentence: Mapped[str | None] = mapped_column(Text)
    marks: Mapped[list[Any] | None]
    # Set when a changed rule no longer matches the entry; the hit then counts for nothing.
    withdrawn_at: Mapped[datetime | None]

    entry: Mapped[Entry] = relationship()
    evidence: Mapped[Evidence] = relationship(back_populates="hits")


class BlockedMatch(Base):
    """An entry whose terms matched an indicator in a sentence a cue kept from counting."""

    __tablename__ = "blocked_matches"
    __table_args__ = (UniqueConstraint("entry_id", "indicator_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), index=True)
    indicator_id: Mapped[str] = mapped_column(ForeignKey("indicators.id"))
    sentence: Mapped[str] = mapped_column(Text)
    cue: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]

    entry: Mapped[Entry] = relationship()


class Forecast(Base):
    """A manual forecast or a resolution; append-only. Evidence forecasts derive from the log."""

    __tablename__ = "forecasts"
    __table_args__ = (Index("ix_forecasts_question_at", "question_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    question_id: Mapped[str] = mapped_column(ForeignKey("questions.id"))
    at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(20))
    probabilities: Mapped[dict[str, Any]]
    author: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    # A `void` row withdraws the manual forecast or resolution it names; both stay.
    voids: Mapped[int | None] = mapped_column(ForeignKey("forecasts.id"), unique=True)


# The ids of the forecasts a void took back: `Forecast.id.not_in(VOIDED)` is what stands.
VOIDED = select(Forecast.voids).where(Forecast.voids.is_not(None))


class Report(Base):
    """A rendered report of one period; the outbox row it is sent from."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    period: Mapped[str] = mapped_column(String(20), unique=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    created_at: Mapped[datetime]
    subject: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(300))
    # The probabilities of every question when this report was made, for "change since".
    probabilities: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_to: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None]

    images: Mapped[list[ReportImage]] = relationship(
        back_populates="report", order_by="ReportImage.id", cascade="all, delete-orphan"
    )


class ReportImage(Base):
    __tablename__ = "report_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    cid: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes] = mapped_column(LargeBinary)

    report: Mapped[Report] = relationship(back_populates="images")


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started", "job", "started"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(50))
    started: Mapped[datetime]
    finished: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(20), default="running")
    detail: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(200))


__all__ = [
    "Base",
    "BlockedMatch",
    "Entry",
    "Evidence",
    "Feed",
    "Forecast",
    "Hit",
    "Indicator",
    "JobRun",
    "Meta",
    "NOT_APPLIED",
    "Question",
    "Report",
    "ReportImage",
    "Scenario",
]
