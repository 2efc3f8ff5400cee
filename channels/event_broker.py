"""Rasa's event broker, chosen by one environment switch (endpoints.yml names this class).

Rasa publishes every event of every conversation (messages, intents, actions, slots) to the broker when it
saves the tracker, for analytics outside the assistant.

- EVENT_BROKER=sql (default): Rasa's SQLEventBroker, one JSON row per event in the `events` table of the
  SQLite file EVENT_BROKER_DB. Replicas on one host may share the file.
- EVENT_BROKER=kafka: Rasa's KafkaEventBroker on KAFKA_URL (bootstrap servers, comma-separated), topic
  KAFKA_TOPIC, keyed by conversation so one conversation's events stay in order in one partition.
  KAFKA_SECURITY_PROTOCOL is PLAINTEXT (default), SASL_PLAINTEXT, SSL or SASL_SSL; SASL needs
  KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (KAFKA_SASL_MECHANISM, default PLAIN); SSL takes
  KAFKA_SSL_CAFILE, KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE.
- EVENT_BROKER=none: no broker.

A wrong setting stops the server with a clear message: Rasa itself would only log a warning and run without
a broker when a custom broker fails to import.
"""

from __future__ import annotations

import os
from asyncio import AbstractEventLoop
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm
from rasa.core.brokers.broker import EventBroker
from rasa.core.brokers.sql import SQLEventBroker
from rasa.utils.endpoints import EndpointConfig

from bot.store import create_tables

EVENT_BROKERS = ("sql", "kafka", "none")
KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL")


class EventBrokerConfigError(ValueError):
    """Not a RuntimeError: Rasa's EventBroker.create would re-raise that as "Cannot connect to event broker"."""


class SQLiteEventBroker(SQLEventBroker):
    """Rasa's SQL event broker (its `events` table and its `publish`) on a SQLite file opened the way
    bot/store.py opens the state database: WAL, a busy timeout and pooled connections. Rasa's own engine opens
    a new connection per event, and each commit then took 30 ms here instead of 1.2 ms."""

    def __init__(self, path: str | Path) -> None:
        database = Path(path)
        database.parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(f"sqlite:///{database}", poolclass=sa.pool.QueuePool,
                                       connect_args={"timeout": 10, "check_same_thread": False})

        @sa.event.listens_for(self.engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        create_tables(self.Base.metadata, self.engine)  # replicas starting at once share the file
        self.sessionmaker = sqlalchemy.orm.sessionmaker(bind=self.engine)

    async def close(self) -> None:
        self.engine.dispose()


class ConfiguredEventBroker(EventBroker):
    """Returns Rasa's SQL or Kafka event broker, or none (this class itself is never instantiated)."""

    @classmethod
    async def from_endpoint_config(cls, broker_config: EndpointConfig | None,
                                   event_loop: AbstractEventLoop | None = None) -> EventBroker | None:
        kind = (os.environ.get("EVENT_BROKER") or "sql").strip().lower()
        if kind not in EVENT_BROKERS:
            raise EventBrokerConfigError(f"EVENT_BROKER={kind!r} is not supported (use one of: "
                                         f"{', '.join(EVENT_BROKERS)})")
        if kind == "none":
            return None
        if kind == "sql":
            return SQLiteEventBroker(_sqlite_path())
        return _kafka_broker()


def _sqlite_path() -> Path:
    raw = os.environ.get("EVENT_BROKER_DB")
    if not raw:
        raise EventBrokerConfigError("EVENT_BROKER=sql needs EVENT_BROKER_DB (the SQLite file for the events)")
    path = Path(raw).resolve()
    tracker_db = os.environ.get("TRACKER_DB")
    # Rasa's SQL tracker store and SQL event broker both own a table called `events`, with different columns.
    if tracker_db and Path(tracker_db).resolve() == path:
        raise EventBrokerConfigError("EVENT_BROKER_DB must not be the TRACKER_DB file")
    return path


def _kafka_broker() -> EventBroker:
    url = os.environ.get("KAFKA_URL")
    if not url:
        raise EventBrokerConfigError("EVENT_BROKER=kafka needs KAFKA_URL, e.g. kafka-1:9092,kafka-2:9092")
    protocol = (os.environ.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").strip().upper()
    if protocol not in KAFKA_SECURITY_PROTOCOLS:
        raise EventBrokerConfigError(f"KAFKA_SECURITY_PROTOCOL={protocol!r} is not supported (use one of: "
                                     f"{', '.join(KAFKA_SECURITY_PROTOCOLS)})")
    settings: dict[str, Any] = {
        "topic": os.environ.get("KAFKA_TOPIC") or "rasa_core_events",
        "client_id": os.environ.get("KAFKA_CLIENT_ID") or "candidate-assistant",
        "partition_by_sender": True,
        "security_protocol": protocol,
    }
    if protocol.startswith("SASL_"):
        username, password = os.environ.get("KAFKA_SASL_USERNAME"), os.environ.get("KAFKA_SASL_PASSWORD")
        if not (username and password):
            raise EventBrokerConfigError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME and "
                                         "KAFKA_SASL_PASSWORD")
        settings.update(sasl_username=username, sasl_password=password,
                        sasl_mechanism=os.environ.get("KAFKA_SASL_MECHANISM") or "PLAIN")
    if protocol.endswith("SSL"):
        settings.update(ssl_cafile=os.environ.get("KAFKA_SSL_CAFILE") or None,
                        ssl_certfile=os.environ.get("KAFKA_SSL_CERTFILE") or None,
                        ssl_keyfile=os.environ.get("KAFKA_SSL_KEYFILE") or None,
                        # Rasa sends an empty hostname check otherwise, which librdkafka refuses under SASL_SSL.
                        ssl_check_hostname=True)
    try:  # Rasa imports confluent-kafka only at the first event, and would swallow an ImportError here
        import confluent_kafka  # noqa: F401
        from rasa.core.brokers.kafka import KafkaEventBroker
    except ImportError as error:
        raise EventBrokerConfigError(f"EVENT_BROKER=kafka needs confluent-kafka: {error}") from error
    return KafkaEventBroker(",".join(server.strip() for server in url.split(",") if server.strip()), **settings)
