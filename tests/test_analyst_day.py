"""Issue 13, the analyst's day: every command tells the truth, reads well on a terminal and
forgives mistakes. Each test goes through the CLI, as an analyst would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Tracker

Q = "csto-response"


def test_send_with_smtp_but_no_recipients_is_a_configuration_error_not_a_retry(
    initialized: Tracker, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRACKER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TRACKER_SMTP_PORT", "9")
    monkeypatch.delenv("TRACKER_MAIL_TO", raising=False)
    initialized.refused("report", "--send", message="no recipients")
    status = json.loads(initialized.ok("status", "--json").output)
    assert status["outbox"] == []
