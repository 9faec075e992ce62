"""The one clock: every timestamp the services store or send comes from here (UTC, aware)."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
