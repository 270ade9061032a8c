"""Commands of this area (registered in tracker.cli)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
