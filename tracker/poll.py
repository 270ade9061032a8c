"""Poll feeds: the names the CLI and the daemon use, from where they now live.

The orchestration (claim → queue → fetch workers → one writer → release) is in
tracker/pipeline.py; one feed's story (fetch result → entries or failure → back-off → hold
host → gone) in tracker/feedpoll.py.
"""

from __future__ import annotations

from .feedpoll import (
    MAX_BACKOFF,
    MAX_NEW_ENTRIES,
    WORKED,
    FeedOutcome,
    Outcome,
    backoff,
    jittered,
)
from .pipeline import LEASE, PollSummary, StandingPipeline, default_fetcher, poll

__all__ = ["LEASE", "MAX_BACKOFF", "MAX_NEW_ENTRIES", "WORKED", "FeedOutcome", "Outcome",
           "PollSummary", "StandingPipeline", "backoff", "default_fetcher", "jittered", "poll"]
