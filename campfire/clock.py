"""Time in one place: UTC timestamps as RFC 3339 strings ending in Z."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now() -> datetime:
    """The current time in UTC (tests replace this to travel in time)."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Format as RFC 3339 UTC with milliseconds; fixed width, so strings sort by time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now_iso() -> str:
    """The current time, formatted."""
    return iso(now())


def iso_in(delta: timedelta) -> str:
    """The time `delta` from now, formatted."""
    return iso(now() + delta)
