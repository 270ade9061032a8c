"""The database fixture works on every backend under test."""

from tests.conftest import snapshot


def test_init_creates_tables_and_syncs(initialized):
    snap = snapshot(initialized.db_url)
    assert {"questions", "scenarios", "indicators", "feeds", "alembic_version"} <= set(snap)
    assert [r[0] for r in snap["questions"]] == ["csto-response", "uzbekistan-rejoins"]
