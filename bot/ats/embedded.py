"""The embedded ATS: SQLite through SQLAlchemy 1.4 Core, loaded from a seed file.

It is the default backend, so a new installation answers real questions with no outside system.
Any database failure (file missing, locked past the timeout, corrupt) becomes ATSUnavailable.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.ats.base import (
    AlreadyBooked,
    Application,
    ATSUnavailable,
    Booking,
    BookingNotFound,
    Candidate,
    Company,
    Interviewer,
    InterviewPlan,
    Job,
    NotInterviewStage,
    Recruiter,
    SalaryRange,
    SlotTaken,
    Stage,
)
from bot.ats.seed import GRID_MINUTES, Seed, SeedInterviewer
from bot.clock import UTC, as_utc, from_db, to_db
from bot.store import create_tables

metadata = sa.MetaData()

settings_table = sa.Table(
    "ats_settings", metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
recruiters_table = sa.Table(
    "recruiters", metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("email", sa.String, nullable=False),
    sa.Column("slack_user_id", sa.String),
)
jobs_table = sa.Table(
    "jobs", metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("title", sa.String, nullable=False),
    sa.Column("location", sa.String),
    sa.Column("remote", sa.String),
    sa.Column("salary_min", sa.Integer),
    sa.Column("salary_max", sa.Integer),
    sa.Column("salary_currency", sa.String),
    sa.Column("description", sa.Text),
    sa.Column("department", sa.String),
    sa.Column("stages", sa.Text, nullable=False),  # JSON list: stages are read with their job, never alone
)
candidates_table = sa.Table(
    "candidates", metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("email", sa.String, index=True, unique=True),
    sa.Column("phone", sa.String, index=True, unique=True),
    sa.Column("timezone", sa.String),
)
applications_table = sa.Table(
    "applications", metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("candidate_id", sa.String, sa.ForeignKey("candidates.id"), nullable=False, index=True),
    sa.Column("job_id", sa.String, sa.ForeignKey("jobs.id"), nullable=False),
    sa.Column("stage", sa.String, nullable=False),
    sa.Column("stage_changed", sa.Date, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("recruiter_id", sa.String, sa.ForeignKey("recruiters.id")),
    sa.Column("rejection_communicated", sa.Boolean, nullable=False, default=False),
    sa.Column("applied_on", sa.Date),
)
interviewers_table = sa.Table(
    "interviewers", metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("title", sa.String),
    sa.Column("timezone", sa.String, nullable=False),
    sa.Column("weekly_hours", sa.Text, nullable=False),  # JSON [[weekday, "09:00", "12:00"], ...], local time
    sa.Column("busy", sa.Text, nullable=False),  # JSON [["<iso start>", "<iso end>"], ...]
)
SEED_TABLES = (applications_table, candidates_table, jobs_table, recruiters_table, interviewers_table)

# Bookings are the ATS's own records, not seed data: reloading a seed keeps them.
bookings_table = sa.Table(
    "interview_bookings", metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("application_id", sa.String, nullable=False, index=True),
    sa.Column("candidate_id", sa.String, nullable=False, index=True),
    sa.Column("job_id", sa.String, nullable=False),
    sa.Column("stage", sa.String, nullable=False),
    sa.Column("starts_at", sa.DateTime, nullable=False),  # naive UTC
    sa.Column("ends_at", sa.DateTime, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("candidate_timezone", sa.String, nullable=False),
    sa.Column("invite_token", sa.String, nullable=False, index=True),  # shared by a booking and its moves
    sa.Column("conversation_id", sa.String),
    sa.Column("channel", sa.String),
    sa.Column("sequence", sa.Integer, nullable=False, default=0),
    sa.Column("replaces", sa.String),  # the booking this one moved, so a calendar updates one event
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # One booked interview per application and stage, enforced by the database itself.
    sa.Index("one_booking_per_stage", "application_id", "stage", unique=True,
             sqlite_where=sa.text("status = 'booked'")),
)
# Notes recruiters read on an application (the assistant records its bookings there), kept across seed loads.
notes_table = sa.Table(
    "application_notes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("application_id", sa.String, nullable=False, index=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
# Each booked quarter hour of each interviewer is one row: two bookings that overlap for any interviewer
# collide on this primary key, so a double booking cannot commit whatever the timing of the requests.
interviewer_blocks_table = sa.Table(
    "interviewer_blocks", metadata,
    sa.Column("interviewer_id", sa.String, primary_key=True),
    sa.Column("block_start", sa.DateTime, primary_key=True),  # naive UTC
    sa.Column("booking_id", sa.String, nullable=False, index=True),
)
GRID = dt.timedelta(minutes=GRID_MINUTES)
SLOT_STEP = dt.timedelta(minutes=30)  # offered start times: every half hour of availability

T = TypeVar("T")


def _unavailable_on_db_error(method: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(method)
    def wrapper(*args, **kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except SQLAlchemyError as error:
            # The message names the failure class only: SQL text could carry personal data.
            raise ATSUnavailable(f"embedded ATS database error: {type(error).__name__}") from error

    return wrapper


def _stage_to_json(stage: Stage) -> dict:
    plan = stage.interview
    return {
        "name": stage.name,
        "description": stage.description,
        "next_step": stage.next_step,
        "typical_days": list(stage.typical_days) if stage.typical_days else None,
        "needs_interview": stage.needs_interview,
        "interview": None if plan is None else {
            "format": plan.format, "duration_minutes": plan.duration_minutes,
            "interviewer_ids": list(plan.interviewer_ids), "video_link": plan.video_link, "location": plan.location,
        },
    }


def _stage_from_json(raw: dict) -> Stage:
    typical = raw.get("typical_days")
    plan = raw.get("interview")
    return Stage(
        name=raw["name"],
        description=raw.get("description"),
        next_step=raw.get("next_step"),
        typical_days=tuple(typical) if typical else None,
        needs_interview=raw.get("needs_interview"),
        interview=None if plan is None else InterviewPlan(
            format=plan["format"], duration_minutes=plan["duration_minutes"],
            interviewer_ids=tuple(plan["interviewer_ids"]), video_link=plan.get("video_link"),
            location=plan.get("location"),
        ),
    )


def _interviewer_row(interviewer: SeedInterviewer) -> dict:
    return {
        "id": interviewer.id, "name": interviewer.name, "title": interviewer.title,
        "timezone": interviewer.timezone,
        "weekly_hours": json.dumps([[day, start.isoformat("minutes"), end.isoformat("minutes")]
                                    for day, start, end in interviewer.weekly_hours]),
        "busy": json.dumps([[start.isoformat(), end.isoformat()] for start, end in interviewer.busy]),
    }


class EmbeddedATS:
    """SQLite-backed ATS. `timeout` bounds how long a read waits on a locked database."""

    def __init__(self, database_path: str | Path, timeout: float = 3.0, create: bool = True) -> None:
        self.database_path = Path(database_path)
        if create:
            self.database_path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.database_path.exists():
            raise ATSUnavailable(f"embedded ATS database {self.database_path} does not exist")
        self.engine = self._sqlite_engine(timeout)
        # Bookings take SQLite's write lock when they begin (BEGIN IMMEDIATE): a transaction that first
        # reads and then writes could otherwise fail at once with "database is locked" under contention.
        self._writer = self._sqlite_engine(timeout)
        sa.event.listen(self._writer, "connect", _autocommit_driver)
        sa.event.listen(self._writer, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))
        if create:
            self._create_schema()

    def _sqlite_engine(self, timeout: float) -> sa.engine.Engine:
        return sa.create_engine(
            f"sqlite:///{self.database_path}",
            connect_args={"timeout": timeout, "check_same_thread": False},
            future=True,
            poolclass=sa.pool.QueuePool,  # SQLAlchemy 1.4 would open a new SQLite connection per query
        )

    @_unavailable_on_db_error
    def _create_schema(self) -> None:
        create_tables(metadata, self.engine)

    # --- loading -------------------------------------------------------------------------------

    @_unavailable_on_db_error
    def load_seed(self, seed: Seed) -> None:
        """Replace all ATS records with the seed's, in one transaction (readers never see half)."""
        with self.engine.begin() as connection:
            for table in SEED_TABLES:
                connection.execute(table.delete())
            connection.execute(settings_table.delete())
            connection.execute(settings_table.insert(), [
                {"key": "company", "value": json.dumps({
                    "name": seed.company.name,
                    "timezone": seed.company.timezone,
                    "careers_email": seed.company.careers_email,
                    "careers_url": seed.company.careers_url,
                })},
                {"key": "seed_fingerprint", "value": seed.fingerprint},
            ])
            if seed.recruiters:
                connection.execute(recruiters_table.insert(), [
                    {"id": r.id, "name": r.name, "email": r.email, "slack_user_id": r.slack_user_id}
                    for r in seed.recruiters
                ])
            if seed.interviewers:
                connection.execute(interviewers_table.insert(), [_interviewer_row(i) for i in seed.interviewers])
            if seed.jobs:
                connection.execute(jobs_table.insert(), [_job_row(job) for job in seed.jobs])
            if seed.candidates:
                connection.execute(candidates_table.insert(), [
                    {"id": c.id, "name": c.name, "email": c.email, "phone": c.phone, "timezone": c.timezone}
                    for c in seed.candidates
                ])
            if seed.applications:
                connection.execute(applications_table.insert(), [
                    {
                        "id": a.id, "candidate_id": a.candidate_id, "job_id": a.job_id, "stage": a.stage,
                        "stage_changed": a.stage_changed, "status": a.status, "recruiter_id": a.recruiter_id,
                        "rejection_communicated": a.rejection_communicated, "applied_on": a.applied_on,
                    }
                    for a in seed.applications
                ])

    @_unavailable_on_db_error
    def seed_fingerprint(self) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(
                sa.select(settings_table.c.value).where(settings_table.c.key == "seed_fingerprint")
            ).scalar_one_or_none()

    @_unavailable_on_db_error
    def counts(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            return {
                table.name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for table in reversed(SEED_TABLES)
            }

    # --- the ATS interface ---------------------------------------------------------------------

    @_unavailable_on_db_error
    def company(self) -> Company:
        with self.engine.connect() as connection:
            raw = connection.execute(
                sa.select(settings_table.c.value).where(settings_table.c.key == "company")
            ).scalar_one_or_none()
        if raw is None:
            raise ATSUnavailable("embedded ATS has no data loaded (run: python -m bot ats load FILE)")
        return Company(**json.loads(raw))

    @_unavailable_on_db_error
    def find_candidate_by_phone(self, phone_e164: str) -> Candidate | None:
        return self._one_candidate(candidates_table.c.phone == phone_e164)

    @_unavailable_on_db_error
    def find_candidate_by_email(self, email: str) -> Candidate | None:
        return self._one_candidate(candidates_table.c.email == email.strip().lower())

    @_unavailable_on_db_error
    def get_candidate(self, candidate_id: str) -> Candidate | None:
        return self._one_candidate(candidates_table.c.id == candidate_id)

    def _one_candidate(self, condition) -> Candidate | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(candidates_table).where(condition)).mappings().first()
        return Candidate(**row) if row else None

    @_unavailable_on_db_error
    def applications_for(self, candidate_id: str) -> list[Application]:
        return self._applications(applications_table.c.candidate_id == candidate_id)

    @_unavailable_on_db_error
    def get_application(self, application_id: str) -> Application | None:
        found = self._applications(applications_table.c.id == application_id)
        return found[0] if found else None

    @_unavailable_on_db_error
    def active_applications(self) -> list[Application]:
        return self._applications(applications_table.c.status == "active")

    @_unavailable_on_db_error
    def add_note(self, application_id: str, text: str) -> None:
        with self.engine.begin() as connection:
            if connection.execute(sa.select(applications_table.c.id).where(
                    applications_table.c.id == application_id)).first() is None:
                raise KeyError(f"no application {application_id!r}")
            connection.execute(notes_table.insert().values(
                application_id=application_id, body=text, created_at=to_db(dt.datetime.now(UTC))))

    def notes_for(self, application_id: str) -> list[str]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.select(notes_table.c.body).where(
                notes_table.c.application_id == application_id).order_by(notes_table.c.id)).scalars())

    def _applications(self, condition) -> list[Application]:
        query = (
            sa.select(applications_table, jobs_table, recruiters_table)
            .select_from(
                applications_table.join(jobs_table, applications_table.c.job_id == jobs_table.c.id)
                .outerjoin(recruiters_table, applications_table.c.recruiter_id == recruiters_table.c.id)
            )
            .where(condition)
            .order_by(applications_table.c.stage_changed.desc(), applications_table.c.id)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        applications = []
        for row in rows:
            job = _job_from_row(row, jobs_table)
            recruiter = None
            if row._mapping[recruiters_table.c.id] is not None:
                recruiter = Recruiter(
                    id=row._mapping[recruiters_table.c.id],
                    name=row._mapping[recruiters_table.c.name],
                    email=row._mapping[recruiters_table.c.email],
                    slack_user_id=row._mapping[recruiters_table.c.slack_user_id],
                )
            a = applications_table.c
            applications.append(Application(
                id=row._mapping[a.id],
                candidate_id=row._mapping[a.candidate_id],
                job=job,
                stage=row._mapping[a.stage],
                stage_changed=row._mapping[a.stage_changed],
                status=row._mapping[a.status],
                recruiter=recruiter,
                rejection_communicated=bool(row._mapping[a.rejection_communicated]),
                applied_on=row._mapping[a.applied_on],
            ))
        return applications

    @_unavailable_on_db_error
    def get_job(self, job_id: str) -> Job | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(jobs_table).where(jobs_table.c.id == job_id)).first()
        return _job_from_row(row, jobs_table) if row else None

    @_unavailable_on_db_error
    def list_jobs(self) -> list[Job]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(jobs_table).order_by(jobs_table.c.title)).all()
        return [_job_from_row(row, jobs_table) for row in rows]

    @_unavailable_on_db_error
    def get_recruiter(self, recruiter_id: str) -> Recruiter | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(recruiters_table).where(recruiters_table.c.id == recruiter_id)
            ).mappings().first()
        return Recruiter(**row) if row else None

    # --- recruiter-side updates (used by the CLI and, later, ATS webhooks) -----------------------

    @_unavailable_on_db_error
    def move_application(self, application_id: str, stage: str, status: str = "active",
                         on: dt.date | None = None) -> None:
        with self.engine.begin() as connection:
            result = connection.execute(
                applications_table.update()
                .where(applications_table.c.id == application_id)
                .values(stage=stage, status=status, stage_changed=on or dt.date.today())
            )
        if result.rowcount != 1:
            raise KeyError(f"no application {application_id!r}")

    @_unavailable_on_db_error
    def mirror(self, job: Job, application: Application | None = None) -> None:
        """Copy a hosted ATS's job (and application) here, so this database can schedule their interviews.

        The candidate is copied without email or phone: scheduling needs neither, and the hosted ATS stays
        the one place that holds them.
        """
        with self._writer.begin() as connection:
            connection.execute(jobs_table.delete().where(jobs_table.c.id == job.id))
            connection.execute(jobs_table.insert().values(**_job_row(job)))
            if application is None:
                return
            connection.execute(candidates_table.delete().where(candidates_table.c.id == application.candidate_id))
            connection.execute(candidates_table.insert().values(id=application.candidate_id, name="(hosted ATS)"))
            connection.execute(applications_table.delete().where(applications_table.c.id == application.id))
            connection.execute(applications_table.insert().values(
                id=application.id, candidate_id=application.candidate_id, job_id=job.id, stage=application.stage,
                stage_changed=application.stage_changed, status=application.status, recruiter_id=None,
                rejection_communicated=application.rejection_communicated, applied_on=application.applied_on))

    # --- interview scheduling --------------------------------------------------------------------

    @_unavailable_on_db_error
    def interviewers(self, interviewer_ids: tuple[str, ...]) -> list[Interviewer]:
        with self.engine.connect() as connection:
            rows = {row.id: row for row in connection.execute(
                sa.select(interviewers_table).where(interviewers_table.c.id.in_(interviewer_ids)))}
        return [Interviewer(id=rows[i].id, name=rows[i].name, title=rows[i].title)
                for i in interviewer_ids if i in rows]

    @_unavailable_on_db_error
    def free_slots(self, job_id: str, stage: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
        with self.engine.connect() as connection:
            job = self._job(connection, job_id)
            plan = _plan_of(job, stage)
            if plan is None:
                return []
            return _free_starts(connection, plan, as_utc(start), as_utc(end))

    @_unavailable_on_db_error
    def book_interview(self, application_id: str, starts_at: dt.datetime, *, candidate_timezone: str,
                       conversation_id: str | None = None, channel: str | None = None) -> Booking:
        starts_at = as_utc(starts_at)
        try:
            with self._writer.begin() as connection:
                application = connection.execute(
                    sa.select(applications_table).where(applications_table.c.id == application_id)
                ).mappings().first()
                if application is None or application["status"] != "active":
                    raise NotInterviewStage(f"application {application_id!r} is not active")
                job = self._job(connection, application["job_id"])
                plan = _plan_of(job, application["stage"])
                if plan is None:
                    raise NotInterviewStage(f"stage {application['stage']!r} has no interviews to book")
                if connection.execute(sa.select(bookings_table.c.id).where(
                        bookings_table.c.application_id == application_id,
                        bookings_table.c.stage == application["stage"],
                        bookings_table.c.status == "booked")).first():
                    raise AlreadyBooked(f"application {application_id!r} already has a booked interview")
                booking_id = self._insert_booking(
                    connection, plan, starts_at, application_id=application_id,
                    candidate_id=application["candidate_id"], job_id=job.id, stage=application["stage"],
                    candidate_timezone=candidate_timezone, conversation_id=conversation_id, channel=channel,
                )
        except IntegrityError as error:
            raise SlotTaken(f"{starts_at.isoformat()} was booked by someone else first") from error
        return self._booking(booking_id)

    @_unavailable_on_db_error
    def reschedule_interview(self, booking_id: str, starts_at: dt.datetime) -> Booking:
        """Move a booking: the new time is taken and the old one freed in one transaction, or neither."""
        starts_at = as_utc(starts_at)
        try:
            with self._writer.begin() as connection:
                old = self._booked_row(connection, booking_id)
                plan = _plan_of(self._job(connection, old["job_id"]), old["stage"])
                if plan is None:
                    raise NotInterviewStage(f"stage {old['stage']!r} has no interviews to book")
                self._release(connection, booking_id, "moved")
                new_id = self._insert_booking(
                    connection, plan, starts_at, application_id=old["application_id"],
                    candidate_id=old["candidate_id"], job_id=old["job_id"], stage=old["stage"],
                    candidate_timezone=old["candidate_timezone"], conversation_id=old["conversation_id"],
                    channel=old["channel"], invite_token=old["invite_token"], sequence=old["sequence"] + 1,
                    replaces=booking_id,
                )
        except IntegrityError as error:
            raise SlotTaken(f"{starts_at.isoformat()} was booked by someone else first") from error
        return self._booking(new_id)

    @_unavailable_on_db_error
    def cancel_interview(self, booking_id: str) -> Booking:
        with self._writer.begin() as connection:
            self._booked_row(connection, booking_id)
            self._release(connection, booking_id, "cancelled")
        return self._booking(booking_id)

    @_unavailable_on_db_error
    def get_booking(self, booking_id: str) -> Booking | None:
        return self._booking(booking_id, missing_ok=True)

    @_unavailable_on_db_error
    def booking_for_invite(self, invite_token: str) -> Booking | None:
        """The latest version of the booking behind a calendar link (a moved booking keeps its link)."""
        with self.engine.connect() as connection:
            booking_id = connection.execute(
                sa.select(bookings_table.c.id).where(bookings_table.c.invite_token == invite_token)
                .order_by(bookings_table.c.sequence.desc())
            ).scalars().first()
        return self._booking(booking_id, missing_ok=True) if booking_id else None

    @_unavailable_on_db_error
    def bookings_for(self, candidate_id: str) -> list[Booking]:
        """The candidate's booked (not cancelled or moved) interviews, soonest first."""
        with self.engine.connect() as connection:
            ids = connection.execute(
                sa.select(bookings_table.c.id)
                .where(bookings_table.c.candidate_id == candidate_id, bookings_table.c.status == "booked")
                .order_by(bookings_table.c.starts_at)
            ).scalars().all()
        return [self._booking(booking_id) for booking_id in ids]

    def _job(self, connection: sa.engine.Connection, job_id: str) -> Job:
        row = connection.execute(sa.select(jobs_table).where(jobs_table.c.id == job_id)).first()
        if row is None:
            raise NotInterviewStage(f"no job {job_id!r}")
        return _job_from_row(row, jobs_table)

    def _booked_row(self, connection: sa.engine.Connection, booking_id: str):
        row = connection.execute(sa.select(bookings_table).where(
            bookings_table.c.id == booking_id, bookings_table.c.status == "booked")).mappings().first()
        if row is None:
            raise BookingNotFound(f"no booked interview {booking_id!r}")
        return row

    def _release(self, connection: sa.engine.Connection, booking_id: str, status: str) -> None:
        connection.execute(interviewer_blocks_table.delete().where(interviewer_blocks_table.c.booking_id == booking_id))
        connection.execute(bookings_table.update().where(bookings_table.c.id == booking_id)
                           .values(status=status, updated_at=to_db(dt.datetime.now(UTC))))

    def _insert_booking(self, connection: sa.engine.Connection, plan: InterviewPlan, starts_at: dt.datetime, *,
                        invite_token: str | None = None, sequence: int = 0, replaces: str | None = None,
                        **fields) -> str:
        ends_at = starts_at + dt.timedelta(minutes=plan.duration_minutes)
        if starts_at not in _free_starts(connection, plan, starts_at, ends_at):
            raise SlotTaken(f"{starts_at.isoformat()} is not a free interview time")
        booking_id = f"b-{secrets.token_hex(6)}"
        now = to_db(dt.datetime.now(UTC))
        connection.execute(bookings_table.insert().values(
            id=booking_id, starts_at=to_db(starts_at), ends_at=to_db(ends_at), status="booked",
            invite_token=invite_token or secrets.token_urlsafe(18), sequence=sequence, replaces=replaces,
            created_at=now, updated_at=now, **fields,
        ))
        connection.execute(interviewer_blocks_table.insert(), [
            {"interviewer_id": interviewer_id, "block_start": to_db(block), "booking_id": booking_id}
            for interviewer_id in plan.interviewer_ids for block in _blocks(starts_at, ends_at)
        ])
        return booking_id

    def _booking(self, booking_id: str, missing_ok: bool = False) -> Booking | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(bookings_table).where(bookings_table.c.id == booking_id)).mappings().first()
            if row is None:
                if missing_ok:
                    return None
                raise BookingNotFound(f"no booking {booking_id!r}")
            job = self._job(connection, row["job_id"])
        plan = _plan_of(job, row["stage"])
        return Booking(
            id=row["id"], application_id=row["application_id"], candidate_id=row["candidate_id"],
            job_id=job.id, job_title=job.title, stage=row["stage"],
            starts_at=from_db(row["starts_at"]), ends_at=from_db(row["ends_at"]),
            format=plan.format if plan else "video",
            interviewers=tuple(self.interviewers(plan.interviewer_ids)) if plan else (),
            status=row["status"], candidate_timezone=row["candidate_timezone"], invite_token=row["invite_token"],
            conversation_id=row["conversation_id"], channel=row["channel"],
            video_link=plan.video_link if plan else None, location=plan.location if plan else None,
            sequence=row["sequence"],
        )


def _autocommit_driver(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" listener issues BEGIN IMMEDIATE itself


def _plan_of(job: Job, stage_name: str) -> InterviewPlan | None:
    stage = job.stage_named(stage_name)
    return stage.interview if stage else None


def _blocks(start: dt.datetime, end: dt.datetime) -> Iterable[dt.datetime]:
    block = start
    while block < end:
        yield block
        block += GRID


def _local_intervals(row, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """An interviewer's working hours between start and end (UTC), minus their busy blocks.

    Hours are wall-clock times in the interviewer's own zone, so they stay 9 to 5 across daylight saving.
    """
    zone = ZoneInfo(row.timezone)
    weekly = json.loads(row.weekly_hours)
    intervals = []
    day = start.astimezone(zone).date() - dt.timedelta(days=1)
    last = end.astimezone(zone).date() + dt.timedelta(days=1)
    while day <= last:
        for weekday, opens, closes in weekly:
            if weekday == day.weekday():
                local_open = dt.datetime.combine(day, dt.time.fromisoformat(opens), tzinfo=zone)
                local_close = dt.datetime.combine(day, dt.time.fromisoformat(closes), tzinfo=zone)
                intervals.append((local_open.astimezone(UTC), local_close.astimezone(UTC)))
        day += dt.timedelta(days=1)
    busy = [(dt.datetime.fromisoformat(a).astimezone(UTC), dt.datetime.fromisoformat(b).astimezone(UTC))
            for a, b in json.loads(row.busy)]
    for busy_start, busy_end in busy:
        intervals = [piece for opens, closes in intervals for piece in (
            ((opens, closes),) if busy_end <= opens or busy_start >= closes else
            tuple(p for p in ((opens, busy_start), (busy_end, closes)) if p[0] < p[1]))]
    return [(opens, closes) for opens, closes in intervals if closes > start and opens < end]


def _free_starts(connection: sa.engine.Connection, plan: InterviewPlan, start: dt.datetime,
                 end: dt.datetime) -> list[dt.datetime]:
    """Start times in [start, end) at which every interviewer of the plan is working and not booked."""
    length = dt.timedelta(minutes=plan.duration_minutes)
    rows = {row.id: row for row in connection.execute(
        sa.select(interviewers_table).where(interviewers_table.c.id.in_(plan.interviewer_ids)))}
    if set(rows) != set(plan.interviewer_ids):
        return []
    booked = {(row.interviewer_id, from_db(row.block_start)) for row in connection.execute(
        sa.select(interviewer_blocks_table).where(
            interviewer_blocks_table.c.interviewer_id.in_(plan.interviewer_ids),
            interviewer_blocks_table.c.block_start >= to_db(start - length),
            interviewer_blocks_table.c.block_start < to_db(end + length)))}
    hours = {interviewer_id: _local_intervals(rows[interviewer_id], start, end) for interviewer_id in rows}

    def everyone_free(begins: dt.datetime) -> bool:
        finishes = begins + length
        return all(any(o <= begins and finishes <= c for o, c in hours[i]) for i in plan.interviewer_ids) and not any(
            (i, block) in booked for i in plan.interviewer_ids for block in _blocks(begins, finishes))

    starts = set()
    for opens, closes in hours[plan.interviewer_ids[0]]:
        candidate = opens
        while candidate + length <= closes:
            if start <= candidate < end and everyone_free(candidate):
                starts.add(candidate)
            candidate += SLOT_STEP
    return sorted(starts)


def _job_row(job: Job) -> dict:
    return {
        "id": job.id, "title": job.title, "location": job.location, "remote": job.remote,
        "salary_min": job.salary.min if job.salary else None,
        "salary_max": job.salary.max if job.salary else None,
        "salary_currency": job.salary.currency if job.salary else None,
        "description": job.description, "department": job.department,
        "stages": json.dumps([_stage_to_json(stage) for stage in job.stages]),
    }


def _job_from_row(row, table: sa.Table) -> Job:
    values = row._mapping
    c = table.c
    salary = None
    if values[c.salary_min] is not None and values[c.salary_max] is not None:
        salary = SalaryRange(min=values[c.salary_min], max=values[c.salary_max],
                             currency=values[c.salary_currency] or "USD")
    return Job(
        id=values[c.id], title=values[c.title], location=values[c.location], remote=values[c.remote],
        salary=salary, description=values[c.description], department=values[c.department],
        stages=tuple(_stage_from_json(raw) for raw in json.loads(values[c.stages])),
    )
