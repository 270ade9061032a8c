"""Where the templates and migrations are, installed (package data) or in a source checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def _package_dir(package: str, checkout_dir: str) -> Path:
    """The folder of a data package; a source checkout keeps it at the top level instead."""
    try:
        return Path(str(resources.files(package)))
    except ModuleNotFoundError:
        return _CHECKOUT / checkout_dir


def templates_dir() -> Path:
    """The Jinja2 templates of the report."""
    return _package_dir("tracker.templates", "templates")


def migrations_dir() -> Path:
    """The Alembic script folder (env.py, versions/)."""
    return _package_dir("tracker.migrations", "db")
