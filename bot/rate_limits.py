"""How fast one sender or one client may use the assistant: messages, new web sessions, new handoffs.

Counters live in the state database every Rasa replica and action server shares, so a limit holds
however many replicas a flood is spread over. Each limit is a fixed window per key (a conversation
id, or a pseudonymous client key): the first `limit` hits of a window are allowed, the rest are
refused until the window ends. A refused hit is not counted, and one key's flood never uses up
another key's allowance. A limit of 0 turns that limit off.

Keys are conversation ids and keyed hashes of client addresses, never a phone number or an address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.clock import now_utc, to_db
from bot.settings import Settings
from bot.store import state_metadata

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
PURGE_EVERY = 500  # hits between sweeps of ended windows, so the table stays as small as the active keys

RATE_LIMITED_REPLY = "You're sending messages faster than I can answer. Please wait a minute and try again."
TOO_MANY_HANDOFFS_REPLY = ("A recruiter has already been asked to help several times in the last hour, so I can't "
                           "ask again just now. Please try again later.")
# Message metadata: a keyed hash of the client's address, set by the channels that see one (web, REST).
CLIENT_KEY = "client_key"

rate_limit_windows = sa.Table(
    "rate_limit_windows", state_metadata,
    sa.Column("key", sa.String, primary_key=True),  # "<what>:<conversation id or client key>"
    sa.Column("window_start", sa.DateTime, primary_key=True),
    sa.Column("hits", sa.Integer, nullable=False),
    sa.Column("ends_at", sa.DateTime, nullable=False, index=True),
)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # seconds until the refusing window ends (HTTP Retry-After)


ALLOWED = Decision(allowed=True)


@dataclass(frozen=True)
class Limit:
    name: str  # what is limited, the key's prefix: "messages", "web_sessions", "handoffs", "client_handoffs"
    per_window: int  # 0: no limit
    window: dt.timedelta


class RateLimiter:
    """Fixed-window counters in the shared state database (one upsert per hit, atomic in SQLite)."""

    def __init__(self, engine: sa.engine.Engine, settings: Settings) -> None:
        self.engine = engine
        self.messages = Limit("messages", settings.rate_limit_messages_per_minute, MINUTE)
        self.web_sessions = Limit("web_sessions", settings.rate_limit_web_sessions_per_hour, HOUR)
        self.handoffs = Limit("handoffs", settings.rate_limit_handoffs_per_hour, HOUR)
        self.client_handoffs = Limit("client_handoffs", settings.rate_limit_client_handoffs_per_hour, HOUR)
        self._hits = 0

    def message(self, conversation_id: str, now: dt.datetime | None = None) -> Decision:
        """A candidate's message, on any channel: allowed, or refused before it reaches NLU."""
        return self.hit([(self.messages, conversation_id)], now)

    def web_session(self, client_key: str, now: dt.datetime | None = None) -> Decision:
        return self.hit([(self.web_sessions, client_key)], now)

    def handoff(self, conversation_id: str, client_key: str | None, now: dt.datetime | None = None) -> Decision:
        """A new handoff: within both the conversation's and the client's allowance, or neither is counted."""
        hits = [(self.handoffs, conversation_id)]
        if client_key:
            hits.append((self.client_handoffs, client_key))
        return self.hit(hits, now)

    def hit(self, hits: list[tuple[Limit, str]], now: dt.datetime | None = None) -> Decision:
        """Count one hit against every (limit, key); allowed only if every limit allows it, counted only then."""
        now = now or now_utc()
        active = [(limit, key) for limit, key in hits if limit.per_window > 0]
        if not active:
            return ALLOWED
        try:
            with self.engine.begin() as connection:
                for limit, key in active:
                    start, end = _window(now, limit.window)
                    counted = connection.execute(_count(f"{limit.name}:{key}", start, end, limit.per_window))
                    if counted.rowcount != 1:
                        raise _Refused(end)  # rolls back the hits this transaction already counted
        except _Refused as refused:
            return Decision(allowed=False, retry_after=max(1, math.ceil((refused.window_end - now).total_seconds())))
        self._hits += 1
        if self._hits % PURGE_EVERY == 0:
            self.purge(now)
        return ALLOWED

    def purge(self, now: dt.datetime | None = None) -> int:
        with self.engine.begin() as connection:
            return connection.execute(rate_limit_windows.delete().where(
                rate_limit_windows.c.ends_at < to_db(now or now_utc()))).rowcount


class _Refused(Exception):
    def __init__(self, window_end: dt.datetime) -> None:
        super().__init__()
        self.window_end = window_end


def _window(now: dt.datetime, length: dt.timedelta) -> tuple[dt.datetime, dt.datetime]:
    seconds = length.total_seconds()
    start = dt.datetime.fromtimestamp(math.floor(now.timestamp() / seconds) * seconds, dt.timezone.utc)
    return start, start + length


def _count(key: str, start: dt.datetime, end: dt.datetime, per_window: int) -> sa.sql.Insert:
    """Insert the window's first hit, or add one while under the limit; rowcount 0 means refused."""
    insert = sqlite_insert(rate_limit_windows).values(key=key, window_start=to_db(start), hits=1, ends_at=to_db(end))
    return insert.on_conflict_do_update(
        index_elements=["key", "window_start"], set_={"hits": rate_limit_windows.c.hits + 1},
        where=rate_limit_windows.c.hits < per_window)


def client_key_for(address: str, key: str) -> str:
    """A pseudonymous, stable key for a client address (addresses are personal data: never stored)."""
    return hmac.new(key.encode(), f"client:{address}".encode(), hashlib.sha256).hexdigest()[:24]
