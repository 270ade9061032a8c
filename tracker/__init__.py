"""tracker: follow long-running geopolitical questions through scenarios, indicators and feeds."""

__version__ = "0.1.0"

# SIGHUPs that reached `tracker daemon` while it started, before its own handlers were in
# place (tracker/__main__.py keeps them from the start; tracker/daemon.py acts on them).
STARTING_SIGHUPS: list[int] = []
