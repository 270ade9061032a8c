"""What keeps the database from growing without end: old entries pruned, and its size."""

from __future__ import annotations

import os
from datetime import datetime

from sqlalchemy import delete, exists, text
from sqlalchemy.orm import Session

from .models import Base, Entry, Hit


def prune_entries(session: Session, before: datetime) -> int:
    """Delete the entries first fetched before `before` that no hit (so no evidence) refers
    to; returns how many. By fetch time, not publication: an old story still in its feed
    would otherwise come back as new at every poll."""
    result = session.execute(delete(Entry).where(
        Entry.fetched_at < before, ~exists().where(Hit.entry_id == Entry.id))
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def database_size(session: Session) -> int | None:
    """Bytes on disk: the SQLite file and its write-ahead log, or on PostgreSQL the tracker's
    tables with their indexes and TOAST; None for an in-memory database."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        path = bind.engine.url.database
        if not path or path == ":memory:":
            return None
        return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p))
    total = 0
    for table in Base.metadata.tables:
        total += session.scalar(text("SELECT pg_total_relation_size(to_regclass(:t))"),
                                {"t": table}) or 0
    return int(total)
