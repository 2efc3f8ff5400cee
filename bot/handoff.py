"""Durable record of conversations that need a human recruiter.

The Slack handoff (a later issue) consumes these rows; until then they are the recruiters' queue,
readable with `python -m bot handoffs`. Only ids and a reason are stored, never message text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from bot.store import state_metadata

REASONS = {
    "requested_by_candidate": "The candidate asked to talk to a person",
    "uncommunicated_rejection": "A rejection has not been communicated to the candidate yet",
    "ats_unavailable": "The ATS could not be reached while the candidate asked for their status",
    "not_understood": "The assistant could not understand the candidate twice in a row",
    "sensitive_topic": "The candidate raised something a recruiter must handle personally",
}

handoff_requests = sa.Table(
    "handoff_requests", state_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String, nullable=False, index=True),
    sa.Column("channel", sa.String, nullable=False),
    sa.Column("candidate_id", sa.String),
    sa.Column("application_id", sa.String),
    sa.Column("reason", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False, default="open"),
    sa.Column("created_at", sa.DateTime, nullable=False),
)


@dataclass(frozen=True)
class HandoffRequest:
    id: int
    conversation_id: str
    channel: str
    candidate_id: str | None
    application_id: str | None
    reason: str
    status: str
    created_at: dt.datetime


class HandoffLog:
    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine

    def request(self, conversation_id: str, channel: str, reason: str, candidate_id: str | None = None,
                application_id: str | None = None) -> int:
        """Open a request, unless the same one is already open (asking twice queues it once)."""
        if reason not in REASONS:
            raise ValueError(f"unknown handoff reason {reason!r}")
        table = handoff_requests
        with self.engine.begin() as connection:
            existing = connection.execute(
                sa.select(table.c.id).where(
                    table.c.conversation_id == conversation_id, table.c.reason == reason,
                    table.c.application_id.is_(application_id) if application_id is None
                    else table.c.application_id == application_id,
                    table.c.status == "open",
                )
            ).scalar_one_or_none()
            if existing is not None:
                return existing
            return connection.execute(table.insert().values(
                conversation_id=conversation_id, channel=channel, candidate_id=candidate_id,
                application_id=application_id, reason=reason, status="open",
                created_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
            )).inserted_primary_key[0]

    def open_requests(self) -> list[HandoffRequest]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(handoff_requests).where(handoff_requests.c.status == "open")
                .order_by(handoff_requests.c.id)
            ).mappings().all()
        return [HandoffRequest(**row) for row in rows]
