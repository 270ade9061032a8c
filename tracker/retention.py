"""What keeps the database from growing without end: old entries pruned, and its size."""

from __future__ import annotations

import os
from datetime import datetime

from sqlalchemy import delete, exists, select, text
from sqlalchemy.orm import Session

from .models import Base, BlockedMatch, Entry, Hit


def prune_entries(session: Session, before: datetime) -> int:
    """Delete the entries first fetched before `before` that no hit (so no evidence) refers
    to, with the matches cues blocked in them; returns how many entries. By fetch time, not
    publication: an old story still in its feed would otherwise come back as new at every
    poll."""
    old = select(Entry.id).where(Entry.fetched_at < before,
                                 ~exists().where(Hit.entry_id == Entry.id))
    # What a cue blocked in them goes with them: it is derived (rematch makes it again), and
    # kept, it would hold every old entry it names, and fail every prune after (foreign key).
    session.execute(delete(BlockedMatch).where(BlockedMatch.entry_id.in_(old))
                    .execution_options(synchronize_session=False))
    result = session.execute(delete(Entry).where(Entry.id.in_(old))
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
