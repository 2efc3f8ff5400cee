"""The one interface through which the assistant reads an applicant tracking system (ATS).

Shaped for the embedded SQLite ATS and for hosted ones (Greenhouse Harvest, Lever): ids are
strings, every record carries only what a candidate conversation needs, and any failure to reach
the ATS surfaces as `ATSUnavailable` so callers can apologise instead of crashing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

APPLICATION_STATUSES = ("active", "rejected", "hired", "withdrawn")
REMOTE_POLICIES = ("onsite", "hybrid", "remote")


class ATSError(Exception):
    """Base class for ATS problems."""


class ATSUnavailable(ATSError):
    """The ATS could not be reached or did not answer in time."""


@dataclass(frozen=True)
class Company:
    name: str
    timezone: str = "UTC"
    careers_email: str | None = None
    careers_url: str | None = None


@dataclass(frozen=True)
class Recruiter:
    id: str
    name: str
    email: str
    slack_user_id: str | None = None

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else self.name


@dataclass(frozen=True)
class Stage:
    """One step of a job's hiring process, with optional recruiter-written explanations."""

    name: str
    description: str | None = None
    next_step: str | None = None
    typical_days: tuple[int, int] | None = None
    needs_interview: bool | None = None


@dataclass(frozen=True)
class SalaryRange:
    min: int
    max: int
    currency: str = "USD"


@dataclass(frozen=True)
class Job:
    id: str
    title: str
    location: str | None = None
    remote: str | None = None
    salary: SalaryRange | None = None
    description: str | None = None
    stages: tuple[Stage, ...] = ()
    department: str | None = None

    def stage_named(self, name: str) -> Stage | None:
        wanted = name.strip().casefold()
        return next((stage for stage in self.stages if stage.name.casefold() == wanted), None)

    def stage_after(self, name: str) -> Stage | None:
        names = [stage.name.casefold() for stage in self.stages]
        wanted = name.strip().casefold()
        if wanted not in names:
            return None
        index = names.index(wanted)
        return self.stages[index + 1] if index + 1 < len(self.stages) else None


@dataclass(frozen=True)
class Candidate:
    id: str
    name: str
    email: str | None = None
    phone: str | None = None
    timezone: str | None = None

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else self.name


@dataclass(frozen=True)
class Application:
    id: str
    candidate_id: str
    job: Job
    stage: str
    stage_changed: dt.date
    status: str
    recruiter: Recruiter | None = None
    rejection_communicated: bool = False
    applied_on: dt.date | None = None


@dataclass(frozen=True)
class CandidateRecord:
    """A candidate together with their applications, as one consistent read."""

    candidate: Candidate
    applications: tuple[Application, ...] = field(default_factory=tuple)


@runtime_checkable
class ATS(Protocol):
    """Everything the assistant asks of an ATS. Implementations raise ATSUnavailable on outages."""

    def company(self) -> Company: ...

    def find_candidate_by_phone(self, phone_e164: str) -> Candidate | None: ...

    def find_candidate_by_email(self, email: str) -> Candidate | None: ...

    def get_candidate(self, candidate_id: str) -> Candidate | None: ...

    def applications_for(self, candidate_id: str) -> list[Application]: ...

    def get_job(self, job_id: str) -> Job | None: ...

    def list_jobs(self) -> list[Job]: ...

    def get_recruiter(self, recruiter_id: str) -> Recruiter | None: ...
