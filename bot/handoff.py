"""Conversations a human recruiter takes over, from the request to the hand back.

A handoff is a durable row: `waiting` (a card was or will be posted to Slack and nobody has
claimed it), `claimed` (a recruiter has it), then `returned` (handed back to the bot) or `closed`.
While it is waiting or claimed, the bot does not answer on its own: candidate messages go to the
card's Slack thread and recruiter replies in that thread go to the candidate.

Everything that must reach Slack or the candidate is written to an outbox in the same database
first (`SlackOutbox`, `CandidateDeliveries`) and delivered by the Rasa server's delivery loop with
retries, so a Slack or Twilio outage or a restart loses nothing. Without Slack configured the rows
are the recruiters' queue (`python -m bot handoffs`) and the bot keeps answering.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.ats.base import Application
from bot.business_hours import BusinessHours
from bot.clock import from_db, now_utc, to_db
from bot.outbox import DurableQueue, queue_table
from bot.scheduling import SchedulingContext
from bot.settings import Settings
from bot.status import StatusContext
from bot.store import state_metadata

REASONS = {
    "requested_by_candidate": "The candidate asked to talk to a person",
    "unanswered_question": "The assistant could not answer a question and the candidate asked for a person",
    "uncommunicated_rejection": "A rejection has not been communicated to the candidate yet",
    "ats_unavailable": "The ATS could not be reached while the candidate asked for their status",
    "not_understood": "The assistant could not understand the candidate twice in a row",
    "sensitive_topic": "The candidate raised something a recruiter must handle personally",
    "no_interview_slots": "No interview times are open for the candidate's stage; find one with them",
}
ACTIVE = ("waiting", "claimed")
ENDED = ("returned", "closed")
TRANSCRIPT_TURNS = 8
TRANSCRIPT_CHARS = 400

handoffs_table = sa.Table(
    "handoffs", state_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String, nullable=False, index=True),
    sa.Column("channel", sa.String, nullable=False),
    sa.Column("candidate_id", sa.String),
    sa.Column("application_id", sa.String),
    sa.Column("reason", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("takes_over", sa.Boolean, nullable=False),  # False: Slack is not configured, the bot keeps answering
    sa.Column("card", sa.Text, nullable=False),  # JSON: what the recruiter's card shows
    sa.Column("slack_channel", sa.String),
    sa.Column("slack_ts", sa.String),
    sa.Column("claimed_by", sa.String),
    sa.Column("claimed_at", sa.DateTime),
    sa.Column("claim_due_at", sa.DateTime, nullable=False),
    sa.Column("escalated_at", sa.DateTime),
    sa.Column("ended_by", sa.String),
    sa.Column("ended_at", sa.DateTime),
    sa.Column("created_at", sa.DateTime, nullable=False),
    # One live handoff per conversation, even when two processes open one at the same moment.
    sa.Index("one_live_handoff", "conversation_id", unique=True,
             sqlite_where=sa.text("status IN ('waiting', 'claimed')"),
             postgresql_where=sa.text("status IN ('waiting', 'claimed')")),
)
threads_table = sa.Table(
    "handoff_threads", state_metadata,
    sa.Column("slack_channel", sa.String, primary_key=True),
    sa.Column("thread_ts", sa.String, primary_key=True),
    sa.Column("handoff_id", sa.Integer, nullable=False, index=True),
)
slack_outbox_table = queue_table(
    "slack_outbox",
    sa.Column("handoff_id", sa.Integer, nullable=False, index=True),
    sa.Column("kind", sa.String, nullable=False),  # card, update_card, thread, escalate, ephemeral
    # For an ephemeral, JSON {"channel", "user", "text", "thread_ts"}: a new column would miss existing databases.
    sa.Column("body", sa.Text),
    sa.Column("provider_id", sa.String),  # the ts Slack gave the posted message
)
deliveries_table = queue_table(
    "handoff_deliveries",
    sa.Column("handoff_id", sa.Integer, nullable=False, index=True),
    sa.Column("channel", sa.String),
    sa.Column("kind", sa.String, nullable=False),  # claimed, reply, returned, closed, escalated
    sa.Column("recruiter", sa.String),  # Slack user id
    sa.Column("body", sa.Text),
    sa.Column("dedupe_key", sa.String, unique=True),  # a Slack message delivered twice is relayed once
)


@dataclass(frozen=True)
class HandoffCard:
    """What the recruiter sees; role and stage only for a verified candidate."""

    reason: str
    channel: str
    candidate_name: str | None = None
    role: str | None = None
    stage: str | None = None
    recruiter_slack_id: str | None = None
    transcript: tuple[tuple[str, str], ...] = ()
    recruiter_email: str | None = None  # found in Slack by email when the ATS has no Slack id (hosted ATSs)

    def as_json(self) -> str:
        return json.dumps({"reason": self.reason, "channel": self.channel, "candidate_name": self.candidate_name,
                           "role": self.role, "stage": self.stage, "recruiter_slack_id": self.recruiter_slack_id,
                           "transcript": [list(turn) for turn in self.transcript],
                           "recruiter_email": self.recruiter_email})

    @classmethod
    def from_json(cls, raw: str) -> HandoffCard:
        data = json.loads(raw)
        data["transcript"] = tuple(tuple(turn) for turn in data.get("transcript") or ())
        return cls(**data)


def trim_transcript(turns: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The last turns, each cut to a readable length."""
    kept = [(who, text if len(text) <= TRANSCRIPT_CHARS else text[:TRANSCRIPT_CHARS - 1] + "\u2026")
            for who, text in turns if text and text.strip()]
    return tuple(kept[-TRANSCRIPT_TURNS:])


@dataclass(frozen=True)
class Handoff:
    id: int
    conversation_id: str
    channel: str
    candidate_id: str | None
    application_id: str | None
    reason: str
    status: str
    takes_over: bool
    card: HandoffCard
    slack_channel: str | None
    slack_ts: str | None
    claimed_by: str | None
    claim_due_at: dt.datetime
    escalated_at: dt.datetime | None
    ended_by: str | None
    created_at: dt.datetime

    @property
    def is_live(self) -> bool:
        return self.status in ACTIVE

    @classmethod
    def from_row(cls, row: Any) -> Handoff:
        return cls(
            id=row["id"], conversation_id=row["conversation_id"], channel=row["channel"],
            candidate_id=row["candidate_id"], application_id=row["application_id"], reason=row["reason"],
            status=row["status"], takes_over=bool(row["takes_over"]), card=HandoffCard.from_json(row["card"]),
            slack_channel=row["slack_channel"], slack_ts=row["slack_ts"], claimed_by=row["claimed_by"],
            claim_due_at=from_db(row["claim_due_at"]),
            escalated_at=from_db(row["escalated_at"]) if row["escalated_at"] else None,
            ended_by=row["ended_by"], created_at=from_db(row["created_at"]),
        )


@dataclass(frozen=True)
class HandoffRules:
    """How handoffs are run: configured once from the environment (see Settings)."""

    slack_enabled: bool = False
    claim_within: dt.timedelta = dt.timedelta(minutes=15)
    hours: BusinessHours = field(default_factory=BusinessHours)
    keep_trying: dt.timedelta = dt.timedelta(days=3)  # how long an undelivered Slack or candidate message is retried


def handoff_rules(settings: Settings, company_timezone: str) -> HandoffRules:
    return HandoffRules(slack_enabled=settings.slack_configured,
                        claim_within=dt.timedelta(minutes=settings.handoff_claim_minutes),
                        hours=BusinessHours.parse(settings.recruiting_hours, company_timezone))


def card_for(reason: str, channel: str, context: StatusContext | SchedulingContext | None,
             transcript: list[tuple[str, str]], application_id: str | None = None,
             ) -> tuple[HandoffCard, Application | None]:
    """The card for a handoff; candidate, role, stage and recruiter only from a verified sender's context."""
    if context is None:
        return HandoffCard(reason, channel, transcript=trim_transcript(transcript)), None
    applications = context.applications
    chosen = next((a for a in applications if a.id == application_id), None)
    if chosen is None:
        live = [a for a in applications if a.status == "active"] or list(applications)
        chosen = max(live, key=lambda a: a.stage_changed, default=None)
    return HandoffCard(
        reason, channel, candidate_name=context.candidate.name,
        role=chosen.job.title if chosen else None, stage=chosen.stage if chosen else None,
        recruiter_slack_id=chosen.recruiter.slack_user_id if chosen and chosen.recruiter else None,
        recruiter_email=chosen.recruiter.email if chosen and chosen.recruiter else None,
        transcript=trim_transcript(transcript),
    ), chosen


class SlackOutbox(DurableQueue):
    """Cards, card updates and thread messages waiting to be sent to Slack, in order per conversation."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        super().__init__(engine, slack_outbox_table, in_order=True)


class CandidateDeliveries(DurableQueue):
    """Recruiter replies and handoff news waiting to reach the candidate, in order per conversation."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        super().__init__(engine, deliveries_table, in_order=True)


@dataclass(frozen=True)
class Outcome:
    """What a recruiter's click or reply did, for the listener's log and its ephemeral answer."""

    handoff: Handoff | None
    changed: bool
    note: str
    refused: bool = False  # not theirs: someone else has the conversation, and nothing changed
    held_by: str | None = None  # when refused, the recruiter who has it


class HandoffDesk:
    def __init__(self, engine: sa.engine.Engine, rules: HandoffRules | None = None) -> None:
        self.engine = engine
        self.rules = rules or HandoffRules()
        self.slack = SlackOutbox(engine)
        self.deliveries = CandidateDeliveries(engine)

    # --- reading ------------------------------------------------------------------------------

    def get(self, handoff_id: int) -> Handoff | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(handoffs_table).where(handoffs_table.c.id == handoff_id)
                                     ).mappings().first()
        return Handoff.from_row(row) if row else None

    def live_for(self, conversation_id: str) -> Handoff | None:
        t = handoffs_table
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(t).where(t.c.conversation_id == conversation_id,
                                                        t.c.status.in_(ACTIVE))).mappings().first()
        return Handoff.from_row(row) if row else None

    def by_thread(self, slack_channel: str, thread_ts: str) -> Handoff | None:
        with self.engine.connect() as connection:
            handoff_id = connection.execute(sa.select(threads_table.c.handoff_id).where(
                threads_table.c.slack_channel == slack_channel, threads_table.c.thread_ts == thread_ts)
            ).scalar_one_or_none()
        return self.get(handoff_id) if handoff_id is not None else None

    def listing(self, live_only: bool = True) -> list[Handoff]:
        t = handoffs_table
        query = sa.select(t).order_by(t.c.id)
        if live_only:
            query = query.where(t.c.status.in_(ACTIVE))
        with self.engine.connect() as connection:
            return [Handoff.from_row(row) for row in connection.execute(query).mappings().all()]

    # --- the candidate side -------------------------------------------------------------------

    def open(self, conversation_id: str, channel: str, card: HandoffCard, candidate_id: str | None = None,
             application_id: str | None = None, now: dt.datetime | None = None) -> tuple[Handoff, bool]:
        """Open a handoff, or return the conversation's live one (asking twice opens it once)."""
        if card.reason not in REASONS:
            raise ValueError(f"unknown handoff reason {card.reason!r}")
        existing = self.live_for(conversation_id)
        if existing is not None:
            return existing, False
        now = now or now_utc()
        due = self.rules.hours.add_working_time(now, self.rules.claim_within)
        try:
            with self.engine.begin() as connection:
                handoff_id = connection.execute(handoffs_table.insert().values(
                    conversation_id=conversation_id, channel=channel, candidate_id=candidate_id,
                    application_id=application_id, reason=card.reason, status="waiting",
                    takes_over=self.rules.slack_enabled, card=card.as_json(), claim_due_at=to_db(due),
                    created_at=to_db(now),
                )).inserted_primary_key[0]
                if self.rules.slack_enabled:
                    self._to_slack(connection, conversation_id, handoff_id, "card", None, now)
        except IntegrityError:  # another process opened one for this conversation first
            live = self.live_for(conversation_id)
            if live is None:
                raise
            return live, False
        handoff = self.get(handoff_id)
        assert handoff is not None
        return handoff, True

    def relay_from_candidate(self, conversation_id: str, text: str, now: dt.datetime | None = None) -> Handoff | None:
        """Post a candidate's message to the live handoff's thread; None when no human has the conversation."""
        handoff = self.live_for(conversation_id)
        if handoff is None or not handoff.takes_over:
            return None
        from bot.handoff_cards import candidate_thread_text  # not at the top: handoff_cards renders a Handoff

        with self.engine.begin() as connection:
            self._to_slack(connection, conversation_id, handoff.id, "thread", candidate_thread_text(text), now)
        return handoff

    def end_by_candidate(self, conversation_id: str, now: dt.datetime | None = None) -> Handoff | None:
        handoff = self.live_for(conversation_id)
        if handoff is None:
            return None
        self._end(handoff, "closed", "candidate", now,
                  "_The candidate ended the conversation; the assistant has it again._", notify_candidate=False)
        return self.get(handoff.id)

    # --- the recruiter side -------------------------------------------------------------------

    def claim(self, handoff_id: int, recruiter: str, now: dt.datetime | None = None) -> Outcome:
        now = now or now_utc()
        t = handoffs_table
        with self.engine.begin() as connection:
            claimed = connection.execute(t.update().where(t.c.id == handoff_id, t.c.status == "waiting").values(
                status="claimed", claimed_by=recruiter, claimed_at=to_db(now))).rowcount == 1
            handoff = self._row(connection, handoff_id)
            if claimed and handoff is not None:
                self._to_slack(connection, handoff.conversation_id, handoff_id, "update_card", None, now)
                self._to_candidate(connection, handoff, "claimed", recruiter, None, None, now)
        if handoff is None:
            return Outcome(None, False, "This handoff does not exist.")
        if claimed:
            return Outcome(handoff, True, "You have this conversation. Reply in the thread to answer the candidate.")
        if handoff.status == "claimed":
            return Outcome(handoff, False, f"<@{handoff.claimed_by}> already has this conversation.")
        return Outcome(handoff, False, "This conversation is already back with the assistant.")

    def recruiter_reply(self, slack_channel: str, thread_ts: str, recruiter: str, text: str, message_key: str,
                        now: dt.datetime | None = None) -> Outcome:
        """A recruiter wrote in a card's thread: relay it to the candidate (replying claims a waiting handoff)."""
        handoff = self.by_thread(slack_channel, thread_ts)
        if handoff is None:
            return Outcome(None, False, "not a handoff thread")
        if not handoff.is_live:
            with self.engine.begin() as connection:
                self._to_slack(connection, handoff.conversation_id, handoff.id, "thread",
                               "_This conversation is back with the assistant, so that message was not sent. "
                               "The candidate can ask for a recruiter again at any time._", now)
            return Outcome(handoff, False, "handoff ended; not relayed")
        if handoff.status == "waiting":
            self.claim(handoff.id, recruiter, now)
            handoff = self.get(handoff.id) or handoff  # someone else may have claimed it a moment earlier
        if not self.may_act(handoff, recruiter):
            return self._refused(handoff)
        with self.engine.begin() as connection:
            try:
                with connection.begin_nested():
                    self._to_candidate(connection, handoff, "reply", recruiter, text, message_key, now)
            except IntegrityError:
                return Outcome(handoff, False, "already relayed (a retried event)")
        return Outcome(self.get(handoff.id), True, "relayed")

    def hand_back(self, handoff_id: int, recruiter: str, now: dt.datetime | None = None) -> Outcome:
        return self._recruiter_ends(handoff_id, recruiter, "returned", now)

    def close(self, handoff_id: int, recruiter: str, now: dt.datetime | None = None) -> Outcome:
        return self._recruiter_ends(handoff_id, recruiter, "closed", now)

    def _recruiter_ends(self, handoff_id: int, recruiter: str, status: str, now: dt.datetime | None) -> Outcome:
        handoff = self.get(handoff_id)
        if handoff is None:
            return Outcome(None, False, "This handoff does not exist.")
        if not handoff.is_live:
            return Outcome(handoff, False, "This conversation is already back with the assistant.")
        if not self.may_act(handoff, recruiter):
            return self._refused(handoff)
        note = {"returned": f"_<@{recruiter}> handed the conversation back to the assistant._",
                "closed": f"_<@{recruiter}> closed the conversation._"}[status]
        ended = self._end(handoff, status, recruiter, now, note, notify_candidate=True,
                          only_for=None if recruiter == handoff.card.recruiter_slack_id else recruiter)
        current = self.get(handoff_id)
        if not ended and current is not None and current.is_live:
            return self._refused(current)  # claimed by someone else between our read and the update
        return Outcome(current, ended, "Done." if ended else "Already ended.")

    @staticmethod
    def may_act(handoff: Handoff, recruiter: str) -> bool:
        """Whether recruiter may answer, hand back or close: anyone while nobody has claimed it (anyone may claim
        it), then only the one who claimed it or the candidate's own recruiter named on the card. A recruiter
        known only by email cannot be matched by Slack id here, so only their claim counts."""
        return handoff.status == "waiting" or recruiter in (handoff.claimed_by, handoff.card.recruiter_slack_id)

    def tell_privately(self, handoff: Handoff, *, slack_channel: str, user: str, text: str,
                       thread_ts: str | None = None, now: dt.datetime | None = None) -> None:
        """Queue an ephemeral Slack message that only user sees, in slack_channel (in thread_ts's thread if given)."""
        body = json.dumps({"channel": slack_channel, "user": user, "text": text, "thread_ts": thread_ts})
        with self.engine.begin() as connection:
            self._to_slack(connection, handoff.conversation_id, handoff.id, "ephemeral", body, now)

    def _refused(self, handoff: Handoff) -> Outcome:
        return Outcome(handoff, False, "refused: not yours", refused=True, held_by=handoff.claimed_by)

    def escalate_overdue(self, now: dt.datetime | None = None) -> list[Handoff]:
        """Waiting handoffs nobody claimed in time: re-post to the fallback channel and tell the candidate, once."""
        now = now or now_utc()
        t = handoffs_table
        with self.engine.connect() as connection:
            ids = connection.execute(sa.select(t.c.id).where(
                t.c.status == "waiting", t.c.takes_over.is_(True), t.c.escalated_at.is_(None),
                t.c.claim_due_at <= to_db(now))).scalars().all()
        escalated = []
        for handoff_id in ids:
            with self.engine.begin() as connection:
                if connection.execute(t.update().where(t.c.id == handoff_id, t.c.status == "waiting",
                                                       t.c.escalated_at.is_(None))
                                      .values(escalated_at=to_db(now))).rowcount != 1:
                    continue  # claimed or escalated by someone else meanwhile
                handoff = self._row(connection, handoff_id)
                assert handoff is not None
                self._to_slack(connection, handoff.conversation_id, handoff_id, "escalate", None, now)
                self._to_candidate(connection, handoff, "escalated", None, None, None, now)
            escalated.append(handoff)
        return escalated

    # --- the delivery loop's bookkeeping ------------------------------------------------------

    def card_posted(self, handoff_id: int, slack_channel: str, ts: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(handoffs_table.update().where(handoffs_table.c.id == handoff_id).values(
                slack_channel=slack_channel, slack_ts=ts))
        self.thread_posted(handoff_id, slack_channel, ts)

    def thread_posted(self, handoff_id: int, slack_channel: str, ts: str) -> None:
        """Remember a card's thread, so replies in it find their handoff."""
        try:
            with self.engine.begin() as connection:
                connection.execute(threads_table.insert().values(
                    slack_channel=slack_channel, thread_ts=ts, handoff_id=handoff_id))
        except IntegrityError:
            pass

    # --- internals ----------------------------------------------------------------------------

    def _end(self, handoff: Handoff, status: str, ended_by: str, now: dt.datetime | None, note: str,
             notify_candidate: bool, only_for: str | None = None) -> bool:
        """End a live handoff once; with only_for, only if it is still waiting or only_for has it."""
        now = now or now_utc()
        t = handoffs_table
        condition = [t.c.id == handoff.id, t.c.status.in_(ACTIVE)]
        if only_for is not None:
            condition.append(sa.or_(t.c.status == "waiting", t.c.claimed_by == only_for))
        with self.engine.begin() as connection:
            if connection.execute(t.update().where(*condition).values(
                    status=status, ended_by=ended_by, ended_at=to_db(now))).rowcount != 1:
                return False
            if handoff.takes_over:
                self._to_slack(connection, handoff.conversation_id, handoff.id, "thread", note, now)
                self._to_slack(connection, handoff.conversation_id, handoff.id, "update_card", None, now)
            if notify_candidate:
                self._to_candidate(connection, handoff, status, ended_by, None, None, now)
        return True

    def _row(self, connection: sa.engine.Connection, handoff_id: int) -> Handoff | None:
        row = connection.execute(sa.select(handoffs_table).where(handoffs_table.c.id == handoff_id)
                                 ).mappings().first()
        return Handoff.from_row(row) if row else None

    def _to_slack(self, connection: sa.engine.Connection, conversation_id: str, handoff_id: int, kind: str,
                  body: str | None, now: dt.datetime | None) -> None:
        now = now or now_utc()
        connection.execute(slack_outbox_table.insert().values(
            conversation_id=conversation_id, handoff_id=handoff_id, kind=kind, body=body, **_fresh(now, self.rules)))

    def _to_candidate(self, connection: sa.engine.Connection, handoff: Handoff, kind: str, recruiter: str | None,
                      body: str | None, dedupe_key: str | None, now: dt.datetime | None) -> None:
        now = now or now_utc()
        connection.execute(deliveries_table.insert().values(
            conversation_id=handoff.conversation_id, handoff_id=handoff.id, channel=handoff.channel, kind=kind,
            recruiter=recruiter, body=body, dedupe_key=dedupe_key, **_fresh(now, self.rules)))


def _fresh(now: dt.datetime, rules: HandoffRules) -> dict[str, Any]:
    return {"status": "pending", "due_at": to_db(now), "next_attempt_at": to_db(now),
            "give_up_at": to_db(now + rules.keep_trying), "attempts": 0, "created_at": to_db(now)}
