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
INTERVIEW_FORMATS = ("phone", "video", "onsite")
BOOKING_STATUSES = ("booked", "cancelled", "moved")


class ATSError(Exception):
    """Base class for ATS problems."""


class ATSUnavailable(ATSError):
    """The ATS could not be reached or did not answer in time."""


class SlotTaken(ATSError):
    """The interview time is no longer free (someone else booked it first, or it is outside availability)."""


class AlreadyBooked(ATSError):
    """The application already has an interview booked for its current stage."""


class BookingNotFound(ATSError):
    """No booked interview with that id (it may have been cancelled or moved)."""


class NotInterviewStage(ATSError):
    """The application is not active at a stage that has interviews to book."""


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
class InterviewPlan:
    """How a stage's interview is held: every listed interviewer meets the candidate together."""

    format: str
    duration_minutes: int
    interviewer_ids: tuple[str, ...]
    video_link: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class Stage:
    """One step of a job's hiring process, with optional recruiter-written explanations."""

    name: str
    description: str | None = None
    next_step: str | None = None
    typical_days: tuple[int, int] | None = None
    needs_interview: bool | None = None
    interview: InterviewPlan | None = None  # set when candidates book this stage's interview themselves


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
class Interviewer:
    id: str
    name: str
    title: str | None = None


@dataclass(frozen=True)
class Booking:
    """A booked interview. Times are timezone-aware UTC; `candidate_timezone` is how the candidate sees them."""

    id: str
    application_id: str
    candidate_id: str
    job_id: str
    job_title: str
    stage: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    format: str
    interviewers: tuple[Interviewer, ...]
    status: str
    candidate_timezone: str
    invite_token: str
    conversation_id: str | None = None
    channel: str | None = None
    video_link: str | None = None
    location: str | None = None
    sequence: int = 0  # bumped on each change, as calendar clients need (RFC 5545 SEQUENCE)

    @property
    def duration_minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


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

    def get_application(self, application_id: str) -> Application | None: ...

    def active_applications(self) -> list[Application]:
        """Every active application (for the stale-application check), each with its job and recruiter."""
        ...

    def add_note(self, application_id: str, text: str) -> None:
        """A note recruiters see on the candidate's record (bookings made by the assistant, for example)."""
        ...


@runtime_checkable
class InterviewScheduler(Protocol):
    """Interviewer availability and bookings. Writes are atomic: a time is booked once or not at all.

    All datetimes are timezone-aware. `free_slots` lists start times at which every interviewer of the
    stage is free for the whole interview, within [start, end).
    """

    def interviewers(self, interviewer_ids: tuple[str, ...]) -> list[Interviewer]: ...

    def free_slots(self, job_id: str, stage: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]: ...

    def book_interview(self, application_id: str, starts_at: dt.datetime, *, candidate_timezone: str,
                       conversation_id: str | None = None, channel: str | None = None) -> Booking: ...

    def reschedule_interview(self, booking_id: str, starts_at: dt.datetime) -> Booking: ...

    def cancel_interview(self, booking_id: str) -> Booking: ...

    def get_booking(self, booking_id: str) -> Booking | None: ...

    def booking_for_invite(self, invite_token: str) -> Booking | None: ...

    def bookings_for(self, candidate_id: str) -> list[Booking]: ...
