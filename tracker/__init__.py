"""tracker: follow long-running geopolitical questions through scenarios, indicators and feeds."""

__version__ = "0.1.0"
