"""Rasa's conversation stores, chosen by one environment switch each (endpoints.yml names these classes).

- TRACKER_STORE=sqlite (default): Rasa's SQLTrackerStore on TRACKER_DB; one server.
  TRACKER_STORE=redis: Rasa's RedisTrackerStore on REDIS_URL, shared by every Rasa replica.
- LOCK_STORE=memory (default): Rasa's in-memory lock store; one server.
  LOCK_STORE=redis: Rasa's RedisLockStore on REDIS_URL, so two replicas never handle one
  conversation's messages at the same time (each waits its ticket, in arrival order).

Both are Rasa's own stores; this module only picks one. A wrong setting stops the server with a clear
message (Rasa would otherwise fall back to an in-memory tracker store with only a warning).
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

from rasa.core.lock_store import InMemoryLockStore, RedisLockStore
from rasa.core.tracker_store import RedisTrackerStore, SQLTrackerStore

TRACKER_STORES = ("sqlite", "redis")
LOCK_STORES = ("memory", "redis")


class StoreConfigError(RuntimeError):
    pass


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = (os.environ.get(name) or allowed[0]).strip().lower()
    if value not in allowed:
        raise StoreConfigError(f"{name}={value!r} is not supported (use one of: {', '.join(allowed)})")
    return value


def redis_settings_url() -> str:
    redis_settings(db_default=0)  # the same checks and errors
    return os.environ["REDIS_URL"]


def redis_settings(db_default: int) -> dict[str, Any]:
    """REDIS_URL (redis://[:password@]host:port[/db], rediss:// for TLS) as the keyword arguments Rasa's
    Redis stores take."""
    raw = os.environ.get("REDIS_URL")
    if not raw:
        raise StoreConfigError("a Redis store needs REDIS_URL, e.g. redis://localhost:6379/0")
    url = urllib.parse.urlsplit(raw)
    if url.scheme not in ("redis", "rediss") or not url.hostname:
        raise StoreConfigError("REDIS_URL must look like redis://host:6379/0 (or rediss:// for TLS)")
    path = url.path.strip("/")
    return {"host": url.hostname, "port": url.port or 6379, "db": int(path) if path.isdigit() else db_default,
            "password": urllib.parse.unquote(url.password) if url.password else None,
            "use_ssl": url.scheme == "rediss"}


class ConfiguredTrackerStore:
    """Returns Rasa's SQL or Redis tracker store (the class itself is never instantiated)."""

    def __new__(cls, domain: Any = None, event_broker: Any = None, **kwargs: Any):
        kind = _choice("TRACKER_STORE", TRACKER_STORES)
        if kind == "redis":
            redis = redis_settings(db_default=0)
            return RedisTrackerStore(domain=domain, event_broker=event_broker, key_prefix="tracker:",
                                     record_exp=_float_env("TRACKER_EXPIRE_SECONDS"), **redis)
        db = os.environ.get("TRACKER_DB")
        if not db:
            raise StoreConfigError("TRACKER_STORE=sqlite needs TRACKER_DB (the SQLite file)")
        return SQLTrackerStore(domain=domain, dialect="sqlite", db=db, event_broker=event_broker)


class ConfiguredLockStore:
    """Returns Rasa's in-memory or Redis lock store."""

    def __new__(cls, endpoint_config: Any = None, **kwargs: Any):
        if _choice("LOCK_STORE", LOCK_STORES) == "redis":
            redis = redis_settings(db_default=1)
            return RedisLockStore(host=redis["host"], port=redis["port"], db=redis["db"],
                                  password=redis["password"], use_ssl=redis["use_ssl"], key_prefix="candidate")
        return InMemoryLockStore()


def _float_env(name: str) -> float | None:
    raw = os.environ.get(name)
    return float(raw) if raw and raw.strip() else None
