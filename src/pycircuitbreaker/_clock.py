"""Wall-clock helpers for display; decisions never use the wall clock."""

from datetime import datetime, timedelta, timezone


def utc_datetime(timestamp: float) -> datetime:
    """Return the timezone-aware UTC datetime of a POSIX ``timestamp``."""
    return datetime.fromtimestamp(timestamp, timezone.utc)


def utc_after(timestamp: float, seconds: float) -> datetime:
    """Return the UTC datetime ``seconds`` after a POSIX ``timestamp``."""
    return utc_datetime(timestamp) + timedelta(seconds=seconds)
