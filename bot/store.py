"""The assistant's own durable state (not the ATS, not Rasa's tracker): one SQLite database.

Both the Rasa server (channels) and the action server write here, so it runs in WAL mode with a
busy timeout; each concern (SMS ledger, handoff requests) owns its own tables.
"""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

state_metadata = sa.MetaData()


def open_state_db(path: str | Path) -> sa.engine.Engine:
    database = Path(path)
    database.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        f"sqlite:///{database}", connect_args={"timeout": 10, "check_same_thread": False}, future=True,
        poolclass=sa.pool.QueuePool,  # SQLAlchemy 1.4 would open a new SQLite connection per query
    )

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    create_tables(state_metadata, engine)
    return engine


def create_tables(metadata: sa.MetaData, engine: sa.engine.Engine, attempts: int = 5) -> None:
    """create_all, safe when several processes start on one database at once (replicas, the action server):
    a table another process created between our check and our CREATE is simply there on the next try."""
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            return
        except sa.exc.OperationalError as error:
            if attempt == attempts - 1 or not any(hint in str(error) for hint in ("already exists", "locked")):
                raise
            time.sleep(0.1 * (attempt + 1))
