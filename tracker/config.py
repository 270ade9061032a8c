"""Settings, layered: defaults, then scenarios.yaml `settings:`, then the TRACKER_* environment."""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from .db import DEFAULT_URL
from .models import Meta
from .scenarios import Settings

SETTINGS_KEY = "settings"


def database_url(explicit: str | None = None) -> str:
    """--db, else TRACKER_DATABASE_URL, else the embedded SQLite file."""
    return explicit or os.environ.get("TRACKER_DATABASE_URL") or DEFAULT_URL


def scenarios_path(explicit: str | None = None) -> str:
    """--scenarios, else TRACKER_SCENARIOS, else scenarios.yaml in the working folder."""
    return explicit or os.environ.get("TRACKER_SCENARIOS") or "scenarios.yaml"


def mail_recipients(settings: Settings) -> list[str]:
    """TRACKER_MAIL_TO (comma-separated) overrides the recipients of scenarios.yaml."""
    env = os.environ.get("TRACKER_MAIL_TO", "")
    named = [a.strip() for a in env.split(",") if a.strip()]
    return named or list(settings.recipients)


def settings_to_json(settings: Settings) -> dict[str, Any]:
    """A JSON-able form of the settings, durations in seconds."""
    out = asdict(settings)
    for key, value in out.items():
        if isinstance(value, timedelta):
            out[key] = value.total_seconds()
        elif isinstance(value, tuple):
            out[key] = list(value)
    return out


def settings_from_json(data: dict[str, Any]) -> Settings:
    """The inverse of settings_to_json; unknown keys are ignored, missing ones take defaults."""
    default = Settings()
    values: dict[str, Any] = {}
    for key, dv in asdict(default).items():
        if key not in data:
            continue
        v = data[key]
        if isinstance(dv, timedelta):
            v = timedelta(seconds=float(v))
        elif isinstance(dv, tuple):
            v = tuple(v)
        values[key] = v
    return Settings(**values)


def store_settings(session: Session, settings: Settings) -> None:
    """Keep the synced settings in the database so every command and daemon agrees."""
    row = session.get(Meta, SETTINGS_KEY)
    if row is None:
        session.add(Meta(key=SETTINGS_KEY, value=settings_to_json(settings)))
    else:
        row.value = settings_to_json(settings)


def load_settings(session: Session) -> Settings:
    """The settings of the last sync, or the defaults before any."""
    row = session.get(Meta, SETTINGS_KEY)
    return settings_from_json(row.value) if row is not None else Settings()


def process_owner() -> str:
    """Who this process is among several daemons: host name and pid. Feed leases, outbox
    claims and job runs all use it, so a dead process's claims can be recognised."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_dead_here(owner: str | None) -> bool:
    """Whether `owner` (see process_owner) is a process of this host that no longer runs; a
    process of another host is never second-guessed."""
    name, _, pid = (owner or "").rpartition(":")
    if name != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, under another user
        return False
    return False


def login_name() -> str:
    """Who is at the keyboard, for the author of a forecast or a review."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
