"""Durable work queues in the state database: interview reminders and outgoing SMS.

Rows are written before anything is sent, claimed with a lease (so two server replicas never take
the same row, and a row claimed by a process that died is taken again after the lease), retried
with capped exponential backoff, and kept with their outcome. Nothing waits in memory.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.ats.base import Booking
from bot.clock import from_db, now_utc, to_db
from bot.store import state_metadata

logger = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=2)
# Set when this process is stopping: a worker finishes the row it is on and takes no more, so none is left
# leased to a process that is gone (another replica would wait out the lease before sending it).
STOPPING = threading.Event()
MAX_BACKOFF = dt.timedelta(minutes=10)
# Statuses: pending (waiting for due_at), sending (claimed until next_attempt_at), then one of
# sent / skipped (no longer wanted: cancelled booking, opted-out number) / failed (gave up).
FINAL_STATUSES = ("sent", "skipped", "failed")


def queue_table(name: str, *columns: sa.Column, constraints: tuple = ()) -> sa.Table:
    return sa.Table(
        name, state_metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String, nullable=False, index=True),
        *columns,
        sa.Column("status", sa.String, nullable=False, default="pending"),
        sa.Column("due_at", sa.DateTime, nullable=False),  # naive UTC
        sa.Column("give_up_at", sa.DateTime, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, default=0),
        sa.Column("last_error", sa.String),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Index(f"{name}_due", "status", "next_attempt_at"),
        *constraints,
    )


reminders_table = queue_table(
    "interview_reminders",
    sa.Column("booking_id", sa.String, nullable=False, index=True),
    sa.Column("lead_minutes", sa.Integer, nullable=False),
    sa.Column("channel", sa.String),
    constraints=(sa.UniqueConstraint("booking_id", "lead_minutes", name="one_reminder_per_lead"),),
)
sms_outbox_table = queue_table(
    "sms_outbox",
    sa.Column("phone", sa.String, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("provider_id", sa.String),  # Twilio's message SID once accepted
)


@dataclass(frozen=True)
class QueuedItem:
    id: int
    conversation_id: str
    attempts: int
    fields: dict[str, Any]


class DurableQueue:
    def __init__(self, engine: sa.engine.Engine, table: sa.Table, in_order: bool = False) -> None:
        self.engine = engine
        self.table = table
        self.in_order = in_order  # one conversation's rows go out one at a time, oldest first

    def claim_due(self, now: dt.datetime | None = None, limit: int = 20) -> list[QueuedItem]:
        """Take due rows (and rows whose claim lapsed) for this process, each row by one claimer only."""
        return list(self.take_due(now, limit))

    def take_due(self, now: dt.datetime | None = None, limit: int = 20) -> Iterator[QueuedItem]:
        """The due rows, each claimed only when the caller reaches it: a server that stops or dies in the middle
        of a batch holds at most the row it was working on, and the rest go out from another replica at once
        rather than after their lease (claiming a whole batch up front made them wait two minutes)."""
        fixed = now
        now = now or now_utc()
        t = self.table
        unfinished = t.c.status.in_(("pending", "sending"))
        due = sa.and_(unfinished, t.c.next_attempt_at <= to_db(now))
        query = sa.select(t).where(due)
        if self.in_order:
            earlier = t.alias("earlier")
            query = query.where(~sa.exists().where(
                earlier.c.conversation_id == t.c.conversation_id, earlier.c.id < t.c.id,
                earlier.c.status.in_(("pending", "sending"))))
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(t.c.next_attempt_at, t.c.id).limit(limit)).mappings().all()
        for row in rows:
            if STOPPING.is_set():
                return
            with self.engine.begin() as connection:
                taken = connection.execute(t.update().where(t.c.id == row["id"], due).values(
                    status="sending", next_attempt_at=to_db((fixed or now_utc()) + LEASE),
                    attempts=t.c.attempts + 1))
            if taken.rowcount == 1:
                fields = {k: v for k, v in row.items() if k not in {"id", "conversation_id", "attempts"}}
                yield QueuedItem(row["id"], row["conversation_id"], row["attempts"] + 1, fields)

    def finish(self, item_id: int, status: str, note: str | None = None, **values: Any) -> None:
        assert status in FINAL_STATUSES
        with self.engine.begin() as connection:
            connection.execute(self.table.update().where(self.table.c.id == item_id).values(
                status=status, finished_at=to_db(now_utc()), last_error=note, **values))

    def retry_later(self, item: QueuedItem, error: str, now: dt.datetime | None = None) -> None:
        """Try again after a backoff (2 s, 4 s, ... capped at 10 min), or give up past the row's deadline."""
        now = now or now_utc()
        if now >= from_db(item.fields["give_up_at"]):
            logger.error("%s %s: giving up after %d attempts: %s", self.table.name, item.id, item.attempts, error)
            self.finish(item.id, "failed", error)
            return
        delay = min(dt.timedelta(seconds=2 ** min(item.attempts, 16)), MAX_BACKOFF)
        with self.engine.begin() as connection:
            connection.execute(self.table.update().where(self.table.c.id == item.id).values(
                status="pending", next_attempt_at=to_db(now + delay), last_error=error[:500]))

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(self.table.c.status, sa.func.count()).group_by(self.table.c.status))
            return dict(rows.all())


class ReminderQueue(DurableQueue):
    """Reminders before booked interviews, delivered into the conversation the booking was made in."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        super().__init__(engine, reminders_table)

    def schedule(self, booking: Booking, leads: tuple[dt.timedelta, ...], now: dt.datetime | None = None) -> int:
        """Queue one reminder per lead time still ahead; returns how many were queued."""
        now = now or now_utc()
        queued = 0
        for lead in leads:
            due = booking.starts_at - lead
            if due <= now + dt.timedelta(minutes=5) or not booking.conversation_id:
                continue  # booked too close to the interview for this reminder to be useful
            try:
                with self.engine.begin() as connection:
                    connection.execute(self.table.insert().values(
                        conversation_id=booking.conversation_id, booking_id=booking.id, channel=booking.channel,
                        lead_minutes=int(lead.total_seconds() // 60), status="pending", due_at=to_db(due),
                        next_attempt_at=to_db(due), give_up_at=to_db(booking.starts_at), attempts=0,
                        created_at=to_db(now)))
                queued += 1
            except IntegrityError:
                pass  # already queued for this booking and lead
        return queued

    def cancel_for(self, booking_id: str) -> int:
        with self.engine.begin() as connection:
            result = connection.execute(self.table.update().where(
                self.table.c.booking_id == booking_id, self.table.c.status.in_(("pending", "sending"))
            ).values(status="skipped", finished_at=to_db(now_utc()), last_error="booking cancelled or moved"))
        return result.rowcount

    def pending_for(self, booking_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(self.table).where(
                self.table.c.booking_id == booking_id, self.table.c.status == "pending"
            ).order_by(self.table.c.due_at)).mappings().all()
        return [dict(row) for row in rows]


class SmsOutbox(DurableQueue):
    """Text messages sent outside a reply to an inbound SMS (reminders, recruiter messages)."""

    def __init__(self, engine: sa.engine.Engine, keep_for: dt.timedelta = dt.timedelta(hours=24)) -> None:
        super().__init__(engine, sms_outbox_table, in_order=True)
        self.keep_for = keep_for

    def enqueue(self, conversation_id: str, phone: str, bodies: list[str], now: dt.datetime | None = None) -> None:
        now = now or now_utc()
        if not bodies:
            return
        with self.engine.begin() as connection:
            connection.execute(self.table.insert(), [{
                "conversation_id": conversation_id, "phone": phone, "body": body, "status": "pending",
                "due_at": to_db(now), "next_attempt_at": to_db(now), "give_up_at": to_db(now + self.keep_for),
                "attempts": 0, "created_at": to_db(now),
            } for body in bodies])

    def messages_for(self, conversation_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(self.table).where(self.table.c.conversation_id == conversation_id)
                                      .order_by(self.table.c.id)).mappings().all()
        return [dict(row) for row in rows]
