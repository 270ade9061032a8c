"""Settings, layered in one place: defaults, then scenarios.yaml `settings:` (validated by
tracker.scenarios, kept in the database by sync), then the TRACKER_* environment."""

from __future__ import annotations

import getpass
import math
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UsageError
from .text import oneline

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger
    from sqlalchemy.orm import Session

SETTINGS_KEY = "settings"
DEFAULT_URL = "sqlite:///db/tracker.sqlite3"
DEFAULT_SCENARIOS = "scenarios.yaml"
DEFAULT_REPORTS_DIR = "reports"
SMTP_SECURITY = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class Settings:
    """What scenarios.yaml `settings:` sets (DESIGN §2), each with its default."""

    timezone: str = "UTC"
    report_cron: str = "0 7 * * mon"
    recipients: tuple[str, ...] = ()
    auto_weight: float = 0.5
    floor: float = 0.001
    poll_interval: timedelta = timedelta(minutes=30)
    concurrency: int = 8
    tick: timedelta = timedelta(seconds=60)
    reliability_strength: float = 4.0
    repeat_decay: float = 0.5
    # settings.matching as validated: {"window": N, "cues": {kind: [..] | {add, remove}}}
    matching: dict[str, Any] = field(default_factory=dict)
    retention: timedelta = timedelta(days=730)  # entries no evidence refers to, then pruned


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send, from TRACKER_SMTP_*; the password never shows in a repr."""

    host: str
    port: int
    security: str
    user: str | None
    password: str | None = field(repr=False)
    timeout: float
    sender: str
    to: tuple[str, ...] = ()
    allow_plaintext_auth: bool = False

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


# Every variable the tracker reads, with what it sets; the README's table says the same.
VARIABLES: dict[str, str] = {
    "TRACKER_DATABASE_URL": "database URL (--db overrides)",
    "TRACKER_SCENARIOS": "the questions file (--scenarios overrides)",
    "TRACKER_SMTP_HOST": "SMTP server; unset: reports are written as files",
    "TRACKER_SMTP_PORT": "SMTP port (465 with ssl, else 587)",
    "TRACKER_SMTP_SECURITY": "starttls, ssl or none",
    "TRACKER_SMTP_USER": "SMTP login",
    "TRACKER_SMTP_PASSWORD": "SMTP password",
    "TRACKER_SMTP_PASSWORD_FILE": "file holding the SMTP password",
    "TRACKER_SMTP_TIMEOUT": "SMTP timeout in seconds (30)",
    "TRACKER_SMTP_ALLOW_PLAINTEXT_AUTH": "1 allows a login without TLS to a remote host",
    "TRACKER_MAIL_FROM": "sender address",
    "TRACKER_MAIL_TO": "recipients, comma-separated; override settings.report.recipients",
    "TRACKER_REPORTS_DIR": "where reports are written when no SMTP server is set",
}
SECRETS = ("TRACKER_SMTP_PASSWORD",)


def environ() -> Mapping[str, str]:
    """The environment the settings are read from (read at each call: tests change it)."""
    return os.environ


def database_url(explicit: str | None = None) -> str:
    """--db, else TRACKER_DATABASE_URL, else the embedded SQLite file."""
    return explicit or environ().get("TRACKER_DATABASE_URL") or DEFAULT_URL


def scenarios_path(explicit: str | None = None) -> str:
    """--scenarios, else TRACKER_SCENARIOS, else scenarios.yaml in the working folder."""
    return explicit or environ().get("TRACKER_SCENARIOS") or DEFAULT_SCENARIOS


# A mail address as the tracker accepts one, in scenarios.yaml and in the environment alike.
MAIL_ADDRESS = re.compile(r"[^@\s,<>]+@[^@\s,<>]+")


def mail_recipients(settings: Settings) -> list[str]:
    """TRACKER_MAIL_TO (comma-separated) overrides the recipients of scenarios.yaml."""
    env = environ().get("TRACKER_MAIL_TO", "")
    named = [a.strip() for a in env.split(",") if a.strip()]
    for address in named:
        if not MAIL_ADDRESS.fullmatch(address):
            raise UsageError(f"bad mail address {oneline(address, 80)!r} in TRACKER_MAIL_TO",
                             hint="comma-separated addresses, e.g. ana@example.org")
    return named or list(settings.recipients)


def reports_folder() -> Path:
    """Where files delivery writes: TRACKER_REPORTS_DIR, else reports/ in the working folder."""
    return Path(environ().get("TRACKER_REPORTS_DIR") or DEFAULT_REPORTS_DIR)


def proxies(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The proxies of the environment by scheme, as urllib reads them (HTTP_PROXY, HTTPS_PROXY,
    ALL_PROXY, a lower-case name winning), "no" holding NO_PROXY's names."""
    env = environ() if env is None else env
    found: dict[str, str] = {}
    for name in sorted(env, key=lambda n: n.islower()):  # upper case first, lower case wins
        if name.lower().endswith("_proxy"):
            value = env[name]
            if value:
                found[name[:-6].lower()] = value
            elif name.islower():
                found.pop(name[:-6].lower(), None)
    if "REQUEST_METHOD" in env:  # a CGI script: HTTP_PROXY may come from the request
        found.pop("http", None)
    return found


def smtp_settings(env: Mapping[str, str] | None = None) -> SmtpSettings | None:
    """The SMTP settings of the environment, or None when TRACKER_SMTP_HOST is unset."""
    env = environ() if env is None else env
    host = env.get("TRACKER_SMTP_HOST", "").strip()
    if not host:
        return None
    security = env.get("TRACKER_SMTP_SECURITY", "starttls").strip().lower() or "starttls"
    if security not in SMTP_SECURITY:
        raise UsageError(f"bad TRACKER_SMTP_SECURITY {security!r}",
                         hint="use starttls, ssl or none")
    raw_port = env.get("TRACKER_SMTP_PORT") or ""
    try:
        port = int(raw_port or (465 if security == "ssl" else 587))
    except ValueError:
        raise UsageError(f"bad TRACKER_SMTP_PORT {oneline(raw_port, 40)!r}",
                         hint="a port number, 1 to 65535") from None
    raw_timeout = env.get("TRACKER_SMTP_TIMEOUT") or ""
    try:
        timeout = float(raw_timeout or 30)
    except ValueError:
        raise UsageError(f"bad TRACKER_SMTP_TIMEOUT {oneline(raw_timeout, 40)!r}",
                         hint="seconds, more than 0 and at most 3600") from None
    if not 1 <= port <= 65535:
        raise UsageError(f"bad TRACKER_SMTP_PORT {port}", hint="a port number, 1 to 65535")
    if not (math.isfinite(timeout) and 0 < timeout <= 3600):
        raise UsageError(f"bad TRACKER_SMTP_TIMEOUT {timeout:g}",
                         hint="seconds, more than 0 and at most 3600")
    password = env.get("TRACKER_SMTP_PASSWORD") or None
    path = env.get("TRACKER_SMTP_PASSWORD_FILE")
    if password is None and path:
        try:
            password = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise UsageError(f"cannot read TRACKER_SMTP_PASSWORD_FILE {path}: "
                             f"{exc.strerror}") from None
    sender = oneline(env.get("TRACKER_MAIL_FROM") or f"tracker@{socket.gethostname()}", 200)
    if env.get("TRACKER_MAIL_FROM") and not MAIL_ADDRESS.fullmatch(sender):
        raise UsageError(f"bad TRACKER_MAIL_FROM {sender[:80]!r}",
                         hint="one address, e.g. tracker@example.org")
    return SmtpSettings(host, port, security, env.get("TRACKER_SMTP_USER") or None, password,
                        timeout, sender, allow_plaintext_auth=env.get(
                            "TRACKER_SMTP_ALLOW_PLAINTEXT_AUTH", "").strip() == "1")


def cron_trigger(expr: str, timezone: str = "UTC") -> CronTrigger:
    """A 5-field crontab in `timezone`; ValueError when it is not one."""
    from apscheduler.triggers.cron import CronTrigger

    if len(expr.split()) != 5:
        raise ValueError(f"bad crontab {expr!r}: expected 5 fields")
    return CronTrigger.from_crontab(expr, timezone=timezone)


def report_trigger(settings: Settings) -> CronTrigger:
    """When reports go out: report.cron in the settings' timezone."""
    return cron_trigger(settings.report_cron, settings.timezone)


def effective(settings: Settings, db: str | None = None, scenarios: str | None = None
              ) -> dict[str, Any]:
    """Every setting in force, layered (defaults, scenarios.yaml, environment), as JSON for
    `tracker status --json`; secrets show as "***"."""
    env = environ()
    smtp = smtp_settings()
    shown = {name: env[name] for name in VARIABLES if env.get(name)}
    for name in SECRETS:
        if name in shown:
            shown[name] = "***"
    return {
        "settings": settings_to_json(settings),
        "database_url": _hide_password(database_url(db)),
        "scenarios": scenarios_path(scenarios),
        "recipients": mail_recipients(settings),
        "delivery": {"smtp": None if smtp is None else {
            "host": smtp.host, "port": smtp.port, "security": smtp.security, "user": smtp.user,
            "password": None if smtp.password is None else "***", "timeout": smtp.timeout,
            "sender": smtp.sender, "allow_plaintext_auth": smtp.allow_plaintext_auth},
            "reports_dir": None if smtp is not None else str(reports_folder())},
        "proxies": {k: _hide_password(v) for k, v in proxies().items()},
        "environment": shown,
    }


def _hide_password(url: str) -> str:
    """A URL with the password of its user part replaced by ***."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


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
    from .models import Meta  # here: the environment's part of this module has no database

    row = session.get(Meta, SETTINGS_KEY)
    if row is None:
        session.add(Meta(key=SETTINGS_KEY, value=settings_to_json(settings)))
    else:
        row.value = settings_to_json(settings)


def load_settings(session: Session) -> Settings:
    """The settings of the last sync, or the defaults before any."""
    return stored_settings(session) or Settings()


def stored_settings(session: Session) -> Settings | None:
    """The settings of the last sync; None before any."""
    from .models import Meta

    row = session.get(Meta, SETTINGS_KEY)
    return settings_from_json(row.value) if row is not None else None


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
    return _zombie(int(pid))


def _zombie(pid: int) -> bool:
    """Ended but not yet reaped by its parent (kill(pid, 0) still succeeds): state Z, or X,
    in /proc/PID/stat (after the parenthesised name, which may hold spaces and parentheses)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:  # no /proc (not Linux), or it went at this moment
        return False
    state = stat[stat.rfind(b")") + 1:].split()[:1]
    return state in ([b"Z"], [b"X"])


AUTHOR_MAX = 200  # the database's author and reviewer columns


def author_too_long(name: str) -> str | None:
    """Why a name is too long to be stored as an author or reviewer, or None."""
    return f"{len(name)} characters: at most {AUTHOR_MAX}" if len(name) > AUTHOR_MAX else None


def login_name() -> str:
    """Who is at the keyboard, for the author of a forecast or a review."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
