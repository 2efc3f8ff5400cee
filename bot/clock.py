"""Time conventions: aware UTC in code, naive UTC in SQLite, the candidate's own zone only on screen."""

from __future__ import annotations

import datetime as dt

UTC = dt.timezone.utc


def now_utc() -> dt.datetime:
    return dt.datetime.now(UTC)


def as_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no time zone; pass an aware one")
    return moment.astimezone(UTC)


def to_db(moment: dt.datetime) -> dt.datetime:
    return as_utc(moment).replace(tzinfo=None)


def from_db(stored: dt.datetime) -> dt.datetime:
    return stored.replace(tzinfo=UTC)
