"""The embedded ATS: SQLite through SQLAlchemy 1.4 Core, loaded from a seed file.

It is the default backend, so a new installation answers real questions with no outside system.
Any database failure (file missing, locked past the timeout, corrupt) becomes ATSUnavailable.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from bot.ats.base import (
    Application,
    ATSUnavailable,
    Candidate,
    Company,
    Job,
    Recruiter,
    SalaryRange,
    Stage,
)
from bot.ats.seed import Seed

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
SEED_TABLES = (applications_table, candidates_table, jobs_table, recruiters_table)

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
    return {
        "name": stage.name,
        "description": stage.description,
        "next_step": stage.next_step,
        "typical_days": list(stage.typical_days) if stage.typical_days else None,
        "needs_interview": stage.needs_interview,
    }


def _stage_from_json(raw: dict) -> Stage:
    typical = raw.get("typical_days")
    return Stage(
        name=raw["name"],
        description=raw.get("description"),
        next_step=raw.get("next_step"),
        typical_days=tuple(typical) if typical else None,
        needs_interview=raw.get("needs_interview"),
    )


class EmbeddedATS:
    """SQLite-backed ATS. `timeout` bounds how long a read waits on a locked database."""

    def __init__(self, database_path: str | Path, timeout: float = 3.0, create: bool = True) -> None:
        self.database_path = Path(database_path)
        if create:
            self.database_path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.database_path.exists():
            raise ATSUnavailable(f"embedded ATS database {self.database_path} does not exist")
        self.engine = sa.create_engine(
            f"sqlite:///{self.database_path}",
            connect_args={"timeout": timeout, "check_same_thread": False},
            future=True,
            poolclass=sa.pool.QueuePool,  # SQLAlchemy 1.4 would open a new SQLite connection per query
        )
        if create:
            self._create_schema()

    @_unavailable_on_db_error
    def _create_schema(self) -> None:
        metadata.create_all(self.engine)

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
        query = (
            sa.select(applications_table, jobs_table, recruiters_table)
            .select_from(
                applications_table.join(jobs_table, applications_table.c.job_id == jobs_table.c.id)
                .outerjoin(recruiters_table, applications_table.c.recruiter_id == recruiters_table.c.id)
            )
            .where(applications_table.c.candidate_id == candidate_id)
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
