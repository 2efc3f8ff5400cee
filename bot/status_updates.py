"""Telling candidates when their application moves, and nudging recruiters when it does not.

Three durable queues in the state database (bot/outbox.py), so nothing is lost when the ATS, Twilio or
Slack is down, and replicas share the work:
- `ats_events`: stage-change notices from ATS webhooks (or the CLI), stored before the webhook is
  acknowledged; processing reads the application afresh from the ATS, which is the truth.
- `status_updates`: one row per application and stage (a unique key: a webhook sent twice, or two
  replicas processing it, still gives one message), due now or, in the candidate's quiet hours, the
  next morning in their time zone; delivered into the candidate's conversation on the channel they
  last used (else SMS).
- `stale_nudges`: one Slack nudge per application and stage that has waited too long.

Rules: updates can be turned off (STATUS_UPDATES); a rejection is never announced unless the company
turns that on (STATUS_UPDATE_REJECTIONS); withdrawals and hires are left to people; an SMS number that
opted out (STOP) gets nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.ats.base import Application, Candidate, Company
from bot.clock import now_utc, to_db
from bot.handoff_cards import mrkdwn_escape
from bot.outbox import DurableQueue, queue_table
from bot.replies import Button, Reply
from bot.settings import Settings
from bot.stages import describe_duration, explain_stage
from bot.store import state_metadata
from bot.when import timezone_from_phone, valid_timezone

logger = logging.getLogger(__name__)

SMS_CHANNEL = "twilio"
EVENT_DEADLINE = dt.timedelta(days=3)  # an ATS event not processed by then is given up (and logged)
UPDATE_DEADLINE = dt.timedelta(days=2)  # news older than this is no longer news

ats_events_table = queue_table(
    "ats_events",  # conversation_id: "application:<id>", so one application's events go in order
    sa.Column("source", sa.String, nullable=False),  # greenhouse, lever, generic, cli
    sa.Column("application_id", sa.String, nullable=False),
    sa.Column("stage", sa.String),  # what the sender said; the ATS is read again before anything is sent
)
status_updates_table = queue_table(
    "status_updates",
    sa.Column("application_id", sa.String, nullable=False),
    sa.Column("stage", sa.String, nullable=False),
    sa.Column("candidate_id", sa.String, nullable=False),
    sa.Column("channel", sa.String, nullable=False),
    sa.Column("phone", sa.String),  # for SMS: where the text goes
    constraints=(sa.UniqueConstraint("application_id", "stage", name="one_update_per_stage"),),
)
stale_nudges_table = queue_table(
    "stale_nudges",  # conversation_id: "application:<id>"
    sa.Column("application_id", sa.String, nullable=False),
    sa.Column("stage", sa.String, nullable=False),
    sa.Column("recruiter_slack_id", sa.String),
    sa.Column("recruiter_email", sa.String),  # found in Slack by email when the ATS has no Slack id
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("provider_id", sa.String),
    constraints=(sa.UniqueConstraint("application_id", "stage", name="one_nudge_per_stage"),),
)
# The channel and conversation a verified candidate last wrote from: where news reaches them.
candidate_contacts_table = sa.Table(
    "candidate_contacts", state_metadata,
    sa.Column("candidate_id", sa.String, primary_key=True),
    sa.Column("channel", sa.String, nullable=False),
    sa.Column("conversation_id", sa.String, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
)


@dataclass(frozen=True)
class QuietHours:
    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, raw: str) -> QuietHours | None:
        """ "21:00-08:00" (overnight) or "" / "off" for none."""
        text = raw.strip().lower()
        if text in {"", "off", "none"}:
            return None
        match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", text)
        if not match:
            raise ValueError(f"QUIET_HOURS must look like 21:00-08:00 (or off), got {raw!r}")
        h1, m1, h2, m2 = map(int, match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"QUIET_HOURS has an impossible time: {raw!r}")
        return cls(dt.time(h1, m1), dt.time(h2, m2))

    def contains(self, local: dt.time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, moment: dt.datetime, zone: str) -> dt.datetime:
        """`moment` itself, or the end of the quiet hours it falls in, in the candidate's zone."""
        local = moment.astimezone(ZoneInfo(zone))
        if not self.contains(local.time()):
            return moment
        day = local.date() if local.time() < self.end else local.date() + dt.timedelta(days=1)
        wake = dt.datetime.combine(day, self.end, tzinfo=ZoneInfo(zone))
        return wake.astimezone(dt.timezone.utc)


def candidate_timezone(candidate: Candidate, company: Company) -> str:
    if valid_timezone(candidate.timezone):
        return candidate.timezone  # type: ignore[return-value]
    return timezone_from_phone(candidate.phone) or company.timezone


@dataclass(frozen=True)
class Planned:
    outcome: str  # queued, duplicate, skipped
    reason: str | None = None
    due_at: dt.datetime | None = None
    channel: str | None = None


class StatusUpdates:
    def __init__(self, engine: sa.engine.Engine, settings: Settings, sms_conversation: Callable[[str], str]) -> None:
        self.engine = engine
        self.settings = settings
        self.sms_conversation = sms_conversation  # phone -> the SMS conversation id (a keyed hash)
        self.events = DurableQueue(engine, ats_events_table, in_order=True)
        self.updates = DurableQueue(engine, status_updates_table)
        self.nudges = DurableQueue(engine, stale_nudges_table)
        self.quiet_hours = QuietHours.parse(settings.quiet_hours)

    # --- who the candidate is talking to us on ---------------------------------------------------

    def record_contact(self, candidate_id: str, channel: str, conversation_id: str,
                       now: dt.datetime | None = None) -> None:
        t = candidate_contacts_table
        values = {"channel": channel, "conversation_id": conversation_id, "last_seen": to_db(now or now_utc())}
        try:
            with self.engine.begin() as connection:
                connection.execute(t.insert().values(candidate_id=candidate_id, **values))
        except IntegrityError:  # known already: the latest channel wins
            with self.engine.begin() as connection:
                connection.execute(t.update().where(t.c.candidate_id == candidate_id).values(**values))

    def is_being_sent(self, conversation_id: str, application_id: str) -> bool:
        """True while the delivery loop is sending this application's update into this very conversation: the only
        time the update action may read the application out (a slot alone proves nothing about whose it is)."""
        t = self.updates.table
        with self.engine.connect() as connection:
            return connection.execute(sa.select(t.c.id).where(
                t.c.conversation_id == conversation_id, t.c.application_id == application_id,
                t.c.status == "sending").limit(1)).first() is not None

    def contact_for(self, candidate_id: str) -> tuple[str, str] | None:
        t = candidate_contacts_table
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(t.c.channel, t.c.conversation_id)
                                     .where(t.c.candidate_id == candidate_id)).first()
        return (row.channel, row.conversation_id) if row else None

    # --- ATS events --------------------------------------------------------------------------------

    def receive_event(self, source: str, application_id: str, stage: str | None = None,
                      now: dt.datetime | None = None) -> None:
        now = now or now_utc()
        with self.engine.begin() as connection:
            connection.execute(ats_events_table.insert().values(
                conversation_id=f"application:{application_id}", source=source, application_id=application_id,
                stage=stage, status="pending", due_at=to_db(now), next_attempt_at=to_db(now),
                give_up_at=to_db(now + EVENT_DEADLINE), attempts=0, created_at=to_db(now)))

    # --- deciding on an update -----------------------------------------------------------------------

    def plan(self, application: Application, candidate: Candidate, company: Company, opted_out: Callable[[str], bool],
             now: dt.datetime | None = None) -> Planned:
        """Queue the update for the application's current stage, or say why not."""
        now = now or now_utc()
        skip = self._reason_not_to_tell(application)
        channel, conversation_id, phone = None, None, None
        if skip is None:
            contact = self.contact_for(candidate.id)
            if contact is not None and (contact[0] != SMS_CHANNEL or candidate.phone):
                channel, conversation_id = contact
                phone = candidate.phone if channel == SMS_CHANNEL else None
            elif candidate.phone:
                channel, conversation_id, phone = SMS_CHANNEL, self.sms_conversation(candidate.phone), candidate.phone
            else:
                skip = "no channel to reach the candidate on"
        if skip is None and channel == SMS_CHANNEL and phone and opted_out(phone):
            skip = "the candidate opted out of texts (STOP)"
        zone = candidate_timezone(candidate, company)
        due = self.quiet_hours.next_allowed(now, zone) if self.quiet_hours else now
        row = {
            "conversation_id": conversation_id or f"application:{application.id}", "application_id": application.id,
            "stage": _stage_key(application), "candidate_id": candidate.id, "channel": channel or "-",
            "phone": phone, "status": "pending" if skip is None else "skipped", "due_at": to_db(due),
            "next_attempt_at": to_db(due), "give_up_at": to_db(due + UPDATE_DEADLINE), "attempts": 0,
            "created_at": to_db(now), "last_error": skip, "finished_at": None if skip is None else to_db(now),
        }
        try:
            with self.engine.begin() as connection:
                connection.execute(status_updates_table.insert().values(**row))
        except IntegrityError:
            return Planned("duplicate", "this stage was already handled")
        if skip is not None:
            return Planned("skipped", skip)
        return Planned("queued", None if due == now else "quiet hours", due, channel)

    def _reason_not_to_tell(self, application: Application) -> str | None:
        if not self.settings.status_updates:
            return "status updates are turned off (STATUS_UPDATES)"
        if application.status == "rejected" and not self.settings.status_update_rejections:
            return "rejections are told by people (STATUS_UPDATE_REJECTIONS is off)"
        if application.status == "rejected" and application.rejection_communicated:
            return "the recruiter has already told the candidate"
        if application.status in ("withdrawn", "hired"):
            return f"a {application.status} application is not announced"
        return None

    def still_current(self, application: Application | None, stage_key: str) -> bool:
        return application is not None and _stage_key(application) == stage_key

    # --- stale applications ------------------------------------------------------------------------

    def nudge_stale(self, applications: list[Application], today: dt.date, candidate_names: dict[str, str],
                    now: dt.datetime | None = None) -> int:
        """Queue one Slack nudge per application that has sat in its stage past the threshold."""
        days = self.settings.stale_application_days
        if days <= 0:
            return 0
        now = now or now_utc()
        queued = 0
        for application in applications:
            waited = (today - application.stage_changed).days
            if application.status != "active" or waited < days:
                continue
            body = stale_nudge_text(application, candidate_names.get(application.candidate_id, "A candidate"), waited)
            try:
                with self.engine.begin() as connection:
                    connection.execute(stale_nudges_table.insert().values(
                        conversation_id=f"application:{application.id}", application_id=application.id,
                        stage=application.stage, body=body,
                        recruiter_slack_id=application.recruiter.slack_user_id if application.recruiter else None,
                        recruiter_email=application.recruiter.email if application.recruiter else None,
                        status="pending", due_at=to_db(now), next_attempt_at=to_db(now),
                        give_up_at=to_db(now + dt.timedelta(days=1)), attempts=0, created_at=to_db(now)))
                queued += 1
            except IntegrityError:
                pass  # already nudged for this stage
        return queued


def _stage_key(application: Application) -> str:
    """One update per stage; a rejection at the same stage is news of its own."""
    return application.stage if application.status == "active" else f"{application.stage} ({application.status})"


def update_reply(application: Application, candidate: Candidate, company: Company) -> Reply:
    """The short message a candidate gets when their application moves."""
    title = application.job.title
    if application.status == "rejected":
        recruiter = application.recruiter.first_name if application.recruiter else "our recruiting team"
        return Reply(
            f"Hi {candidate.first_name}, thank you for your interest in the {title} role at {company.name}. "
            f"After careful review, the team has decided not to move forward with your application. "
            f"We know this isn't the news you hoped for. If you have questions, reply here and {recruiter} "
            f"will get back to you.")
    stage = explain_stage(application.job, application.stage)
    text = (f"Hi {candidate.first_name}, an update from {company.name}: your application for {title} has moved to "
            f"the {stage.name} stage. This means {stage.meaning}. It usually takes "
            f"{describe_duration(stage.typical_days)}; {stage.next_step}.")
    plan = application.job.stage_named(application.stage)
    if plan is not None and plan.interview is not None:
        return Reply(text + " Would you like to book your interview now?",
                     (Button("Book my interview", "/book_interview"), Button("Not now", "/deny")))
    if stage.needs_interview:
        recruiter = application.recruiter.first_name if application.recruiter else "Your recruiter"
        return Reply(text + f" {recruiter} will be in touch to set up the interview.")
    return Reply(text + " Reply here any time if you have questions.")


def stale_nudge_text(application: Application, candidate_name: str, waited_days: int) -> str:
    """The Slack nudge; names, stage and title come from the ATS (and the candidate), so they are escaped."""
    candidate_name, stage, title, application_id = (mrkdwn_escape(text) for text in (
        candidate_name, application.stage, application.job.title, application.id))
    return (f"{candidate_name} has been in {stage} for {title} for {waited_days} days "
            f"(since {application.stage_changed:%b} {application.stage_changed.day}). Could you move the "
            f"application on or let them know where things stand? (application {application_id})")
