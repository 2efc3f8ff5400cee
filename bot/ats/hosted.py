"""A hosted ATS (Greenhouse, Lever) for candidate records, with interviews scheduled here.

Neither Harvest's nor Lever's API offers interviewers' free time to book against, so the embedded
scheduler keeps it: ATS_SEED_FILE (the seed format) supplies the interviewers, their hours and each
stage's interview plan, matched to the hosted ATS's jobs by title and stage name. Before offering or
booking times, the hosted job and application are mirrored into the local database under their hosted
ids (bot/ats/embedded.py `mirror`), so bookings, reminders and invites work exactly as on the embedded
ATS; every booking, move and cancellation is then written back to the hosted ATS as a note recruiters
see on the candidate. A note that cannot be written right away waits in the `ats_notes` queue and is
retried by the status-update loop (channels/ats_updates.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import sqlalchemy as sa

from bot.ats.base import (
    ATS,
    Application,
    ATSError,
    ATSUnavailable,
    Booking,
    Candidate,
    Company,
    Interviewer,
    Job,
    NotInterviewStage,
    Recruiter,
)
from bot.ats.embedded import EmbeddedATS
from bot.ats.http import TTLCache
from bot.clock import now_utc, to_db
from bot.outbox import DurableQueue, queue_table
from bot.when import format_slot

logger = logging.getLogger(__name__)
NOTE_DEADLINE = dt.timedelta(days=7)
LOCAL_JOBS_SECONDS = 5.0  # how long the local jobs (interview plans) are reused before being read again

ats_notes_table = queue_table(
    "ats_notes",  # conversation_id: "application:<id>", so one application's notes keep their order
    sa.Column("application_id", sa.String, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)


class NoteQueue(DurableQueue):
    def __init__(self, engine: sa.engine.Engine) -> None:
        super().__init__(engine, ats_notes_table, in_order=True)

    def enqueue(self, application_id: str, body: str, now: dt.datetime | None = None) -> None:
        now = now or now_utc()
        with self.engine.begin() as connection:
            connection.execute(self.table.insert().values(
                conversation_id=f"application:{application_id}", application_id=application_id, body=body,
                status="pending", due_at=to_db(now), next_attempt_at=to_db(now),
                give_up_at=to_db(now + NOTE_DEADLINE), attempts=0, created_at=to_db(now)))

    def deliver(self, ats: ATS) -> int:
        """Write due notes to the ATS (blocking: run it in a thread); returns how many were written."""
        written = 0
        for item in self.take_due():
            try:
                ats.add_note(item.fields["application_id"], item.fields["body"])
            except ATSUnavailable as error:  # at least once: a note lost in a timeout may appear twice
                self.retry_later(item, str(error))
                continue
            except ATSError as error:  # refused (credentials, settings): retrying cannot help
                logger.error("ATS note %s refused: %s", item.id, error)
                self.finish(item.id, "failed", str(error))
                continue
            self.finish(item.id, "sent")
            written += 1
        return written


class HostedATS:
    """Records from `records`, interview times from `scheduler`; implements ATS and InterviewScheduler."""

    def __init__(self, records: ATS, scheduler: EmbeddedATS, notes: NoteQueue | None = None) -> None:
        self.records = records
        self.scheduler = scheduler
        self.notes = notes
        # Local jobs change only when the seed file is loaded again (`python -m bot ats load`, or a start-up with a
        # changed ATS_SEED_FILE, maybe in another process) or mirror() copies in a hosted job with the plans it got
        # here; nothing in this process can tell without reading the database, so a short TTL bounds staleness.
        self._local_jobs: TTLCache[tuple[Job, ...]] = TTLCache(LOCAL_JOBS_SECONDS)

    def __getattr__(self, name: str):
        # check_credentials and anything vendor-specific
        return getattr(self.records, name)

    # --- records: the hosted ATS, with interview plans from the scheduling file ----------------------

    def company(self) -> Company:
        return self.records.company()

    def find_candidate_by_phone(self, phone_e164: str) -> Candidate | None:
        return self.records.find_candidate_by_phone(phone_e164)

    def find_candidate_by_email(self, email: str) -> Candidate | None:
        return self.records.find_candidate_by_email(email)

    def get_candidate(self, candidate_id: str) -> Candidate | None:
        return self.records.get_candidate(candidate_id)

    def get_recruiter(self, recruiter_id: str) -> Recruiter | None:
        return self.records.get_recruiter(recruiter_id)

    def applications_for(self, candidate_id: str) -> list[Application]:
        return [self._planned(a) for a in self.records.applications_for(candidate_id)]

    def get_application(self, application_id: str) -> Application | None:
        application = self.records.get_application(application_id)
        return self._planned(application) if application else None

    def active_applications(self) -> list[Application]:
        return [self._planned(a) for a in self.records.active_applications()]

    def get_job(self, job_id: str) -> Job | None:
        job = self.records.get_job(job_id)
        return self._with_plans(job) if job else None

    def list_jobs(self) -> list[Job]:
        return [self._with_plans(job) for job in self.records.list_jobs()]

    def add_note(self, application_id: str, text: str) -> None:
        self.records.add_note(application_id, text)

    def _planned(self, application: Application) -> Application:
        return dataclasses.replace(application, job=self._with_plans(application.job))

    def _with_plans(self, job: Job) -> Job:
        """The hosted job, its stages carrying the interview plans and wording of the local job with its title."""
        local_jobs = self._local_jobs.get_or_load("jobs", lambda: tuple(self.scheduler.list_jobs()))
        local = next((j for j in local_jobs if j.title.casefold() == job.title.casefold()), None)
        if local is None:
            return job
        stages = []
        local_names = {stage.name.casefold() for stage in local.stages}
        # Lever has one company-wide pipeline: where the seed lists the job's own stages, they define it.
        pipeline = [s for s in job.stages if s.name.casefold() in local_names] or list(job.stages)
        for stage in pipeline:
            known = local.stage_named(stage.name)
            stages.append(dataclasses.replace(
                stage, interview=known.interview, description=stage.description or known.description,
                next_step=stage.next_step or known.next_step, typical_days=stage.typical_days or known.typical_days,
                needs_interview=stage.needs_interview if stage.needs_interview is not None else known.needs_interview,
            ) if known else stage)
        return dataclasses.replace(job, stages=tuple(stages))

    # --- scheduling: the local database -------------------------------------------------------------

    def interviewers(self, interviewer_ids: tuple[str, ...]) -> list[Interviewer]:
        return self.scheduler.interviewers(interviewer_ids)

    def free_slots(self, job_id: str, stage: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
        job = self.get_job(job_id)
        if job is None:
            return []
        self.scheduler.mirror(job)
        return self.scheduler.free_slots(job_id, stage, start, end)

    def book_interview(self, application_id: str, starts_at: dt.datetime, *, candidate_timezone: str,
                       conversation_id: str | None = None, channel: str | None = None) -> Booking:
        application = self.get_application(application_id)
        if application is None:
            raise NotInterviewStage(f"no application {application_id!r} in the ATS")
        self.scheduler.mirror(application.job, application)  # the ATS's current stage and status decide
        booking = self.scheduler.book_interview(application_id, starts_at, candidate_timezone=candidate_timezone,
                                                conversation_id=conversation_id, channel=channel)
        self._note(booking, "booked")
        return booking

    def reschedule_interview(self, booking_id: str, starts_at: dt.datetime) -> Booking:
        booking = self.scheduler.reschedule_interview(booking_id, starts_at)
        self._note(booking, "moved")
        return booking

    def cancel_interview(self, booking_id: str) -> Booking:
        booking = self.scheduler.cancel_interview(booking_id)
        self._note(booking, "cancelled")
        return booking

    def get_booking(self, booking_id: str) -> Booking | None:
        return self.scheduler.get_booking(booking_id)

    def booking_for_invite(self, invite_token: str) -> Booking | None:
        return self.scheduler.booking_for_invite(invite_token)

    def bookings_for(self, candidate_id: str) -> list[Booking]:
        return self.scheduler.bookings_for(candidate_id)

    def _note(self, booking: Booking, what: str) -> None:
        """Tell recruiters in their ATS; if it is down, queue the note (the booking itself stands)."""
        text = booking_note(booking, what)
        try:
            self.records.add_note(booking.application_id, text)
        except ATSError as error:
            logger.warning("note for booking %s not written yet (%s); queued", booking.id, error)
            if self.notes is not None:
                self.notes.enqueue(booking.application_id, text)


def booking_note(booking: Booking, what: str) -> str:
    when = format_slot(booking.starts_at, booking.candidate_timezone)
    people = ", ".join(i.name for i in booking.interviewers) or "the interviewers"
    if what == "cancelled":
        return (f"Candidate assistant: the candidate cancelled their {booking.stage} interview for {booking.job_title} "
                f"that was on {when}. The time is free again.")
    verb = "moved their" if what == "moved" else "booked a"
    return (f"Candidate assistant: the candidate {verb} {booking.stage} interview for {booking.job_title}: {when} "
            f"({booking.duration_minutes} min, {booking.format}) with {people}. Booking {booking.id}.")
