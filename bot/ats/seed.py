"""Reading and checking an ATS seed file (YAML), the documented way to load the embedded ATS.

Every problem is reported with where it is ("candidates[2].applications[0].job: ...") so a
recruiter can fix the file without reading code.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.ats.base import (
    APPLICATION_STATUSES,
    INTERVIEW_FORMATS,
    REMOTE_POLICIES,
    Company,
    InterviewPlan,
    Job,
    Recruiter,
    SalaryRange,
    Stage,
)
from bot.phone import normalise_phone


class SeedError(ValueError):
    """The seed file cannot be loaded; the message says where and why."""


@dataclass(frozen=True)
class SeedCandidate:
    id: str
    name: str
    email: str | None
    phone: str | None
    timezone: str | None


@dataclass(frozen=True)
class SeedApplication:
    id: str
    candidate_id: str
    job_id: str
    stage: str
    stage_changed: dt.date
    status: str
    recruiter_id: str | None
    rejection_communicated: bool
    applied_on: dt.date | None


DEMO_SEED = Path(__file__).resolve().parents[2] / "data" / "demo" / "ats_seed.yml"  # what `make run` loads
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
GRID_MINUTES = 15  # interview times and lengths are multiples of this, so overlaps are exact


@dataclass(frozen=True)
class SeedInterviewer:
    """Someone who interviews, with weekly hours in their own time zone and one-off busy blocks."""

    id: str
    name: str
    title: str | None
    timezone: str
    weekly_hours: tuple[tuple[int, dt.time, dt.time], ...]  # (weekday 0=Monday, start, end), local time
    busy: tuple[tuple[dt.datetime, dt.datetime], ...]  # timezone-aware


@dataclass(frozen=True)
class Seed:
    company: Company
    recruiters: tuple[Recruiter, ...]
    jobs: tuple[Job, ...]
    candidates: tuple[SeedCandidate, ...]
    applications: tuple[SeedApplication, ...]
    fingerprint: str
    interviewers: tuple[SeedInterviewer, ...] = ()


def _require(mapping: dict, key: str, where: str) -> Any:
    value = mapping.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise SeedError(f"{where}.{key}: required")
    return value


def _text(value: Any) -> str:
    return str(value).strip()


def _as_mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise SeedError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _as_list(value: Any, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SeedError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _as_date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError as error:
        raise SeedError(f"{where}: expected a date like 2026-11-10, got {value!r}") from error


def _check_timezone(name: str, where: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise SeedError(f"{where}: unknown time zone {name!r} (use an IANA name like America/New_York)") from error
    return name


def _parse_stage(raw: Any, where: str) -> Stage:
    if isinstance(raw, str):
        return Stage(name=raw.strip())
    mapping = _as_mapping(raw, where)
    typical = mapping.get("typical_days")
    typical_days = None
    if typical is not None:
        if isinstance(typical, int):
            typical_days = (typical, typical)
        elif isinstance(typical, list) and len(typical) == 2 and all(isinstance(n, int) for n in typical):
            typical_days = (min(typical), max(typical))
        else:
            raise SeedError(f"{where}.typical_days: expected a number of days or [min, max]")
    raw_interview = mapping.get("interview")
    plan = None
    if isinstance(raw_interview, dict):
        plan = _parse_interview_plan(raw_interview, f"{where}.interview")
    elif raw_interview is not None and not isinstance(raw_interview, bool):
        raise SeedError(f"{where}.interview: expected true, false or a mapping (format, duration_minutes, ...)")
    return Stage(
        name=_text(_require(mapping, "name", where)),
        description=mapping.get("description"),
        next_step=mapping.get("next_step"),
        typical_days=typical_days,
        needs_interview=True if plan else (raw_interview if isinstance(raw_interview, bool) else None),
        interview=plan,
    )


def _parse_interview_plan(mapping: dict, where: str) -> InterviewPlan:
    interview_format = _text(_require(mapping, "format", where)).lower()
    if interview_format not in INTERVIEW_FORMATS:
        raise SeedError(f"{where}.format: must be one of {', '.join(INTERVIEW_FORMATS)}, got {interview_format!r}")
    duration = _require(mapping, "duration_minutes", where)
    if not isinstance(duration, int) or duration <= 0 or duration % GRID_MINUTES:
        raise SeedError(f"{where}.duration_minutes: a positive multiple of {GRID_MINUTES}, got {duration!r}")
    interviewer_ids = tuple(_text(i) for i in _as_list(_require(mapping, "interviewers", where),
                                                       f"{where}.interviewers"))
    if not interviewer_ids:
        raise SeedError(f"{where}.interviewers: at least one interviewer id")
    if interview_format == "video" and not mapping.get("video_link"):
        raise SeedError(f"{where}.video_link: required for a video interview")
    if interview_format == "onsite" and not mapping.get("location"):
        raise SeedError(f"{where}.location: required for an onsite interview (the address)")
    return InterviewPlan(
        format=interview_format,
        duration_minutes=duration,
        interviewer_ids=interviewer_ids,
        video_link=mapping.get("video_link"),
        location=mapping.get("location"),
    )


def _parse_clock(value: str, where: str) -> dt.time:
    try:
        clock = dt.time.fromisoformat(value.strip())
    except ValueError as error:
        raise SeedError(f"{where}: expected a time like 09:30, got {value!r}") from error
    if clock.minute % GRID_MINUTES or clock.second:
        raise SeedError(f"{where}: times must fall on the quarter hour, got {value!r}")
    return clock


def _parse_interviewer(raw: Any, where: str) -> SeedInterviewer:
    mapping = _as_mapping(raw, where)
    timezone = _check_timezone(_text(_require(mapping, "timezone", where)), f"{where}.timezone")
    hours = _as_mapping(_require(mapping, "hours", where), f"{where}.hours")
    weekly: list[tuple[int, dt.time, dt.time]] = []
    for day, ranges in hours.items():
        day_key = _text(day).lower()[:3]
        if day_key not in WEEKDAYS:
            raise SeedError(f"{where}.hours.{day}: not a weekday (use mon, tue, wed, thu, fri, sat, sun)")
        for index, span in enumerate(_as_list(ranges, f"{where}.hours.{day}")):
            span_where = f"{where}.hours.{day}[{index}]"
            start_text, separator, end_text = str(span).partition("-")
            if not separator:
                raise SeedError(f"{span_where}: expected a range like 09:00-12:00, got {span!r}")
            start, end = _parse_clock(start_text, span_where), _parse_clock(end_text, span_where)
            if start >= end:
                raise SeedError(f"{span_where}: the range ends before it starts")
            weekly.append((WEEKDAYS.index(day_key), start, end))
    busy = []
    zone = ZoneInfo(timezone)
    for index, raw_block in enumerate(_as_list(mapping.get("busy"), f"{where}.busy")):
        block_where = f"{where}.busy[{index}]"
        block = _as_mapping(raw_block, block_where)
        start = _as_datetime(_require(block, "start", block_where), zone, f"{block_where}.start")
        end = _as_datetime(_require(block, "end", block_where), zone, f"{block_where}.end")
        if start >= end:
            raise SeedError(f"{block_where}: ends before it starts")
        busy.append((start, end))
    return SeedInterviewer(
        id=_text(_require(mapping, "id", where)),
        name=_text(_require(mapping, "name", where)),
        title=mapping.get("title"),
        timezone=timezone,
        weekly_hours=tuple(sorted(weekly)),
        busy=tuple(busy),
    )


def _as_datetime(value: Any, zone: ZoneInfo, where: str) -> dt.datetime:
    """A date-time from the seed; without an offset it is read in the interviewer's own time zone."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip())
        except ValueError as error:
            raise SeedError(f"{where}: expected a date-time like 2026-11-24T09:00, got {value!r}") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _parse_job(raw: Any, where: str) -> Job:
    mapping = _as_mapping(raw, where)
    remote = mapping.get("remote")
    if remote is not None and remote not in REMOTE_POLICIES:
        raise SeedError(f"{where}.remote: must be one of {', '.join(REMOTE_POLICIES)}, got {remote!r}")
    salary = None
    if mapping.get("salary") is not None:
        raw_salary = _as_mapping(mapping["salary"], f"{where}.salary")
        try:
            salary = SalaryRange(
                min=int(_require(raw_salary, "min", f"{where}.salary")),
                max=int(_require(raw_salary, "max", f"{where}.salary")),
                currency=_text(raw_salary.get("currency", "USD")).upper(),
            )
        except (TypeError, ValueError) as error:
            raise SeedError(f"{where}.salary: min and max must be whole numbers") from error
        if salary.min > salary.max:
            raise SeedError(f"{where}.salary: min {salary.min} is above max {salary.max}")
    stages = tuple(
        _parse_stage(stage, f"{where}.stages[{index}]")
        for index, stage in enumerate(_as_list(_require(mapping, "stages", where), f"{where}.stages"))
    )
    if not stages:
        raise SeedError(f"{where}.stages: a job needs at least one stage")
    names = [stage.name.casefold() for stage in stages]
    if len(set(names)) != len(names):
        raise SeedError(f"{where}.stages: stage names must be unique")
    return Job(
        id=_text(_require(mapping, "id", where)),
        title=_text(_require(mapping, "title", where)),
        location=mapping.get("location"),
        remote=remote,
        salary=salary,
        description=mapping.get("description"),
        stages=stages,
        department=mapping.get("department"),
    )


def parse_seed(text: str, source: str = "seed") -> Seed:
    """Parse and check seed YAML; raises SeedError naming the first problem found."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SeedError(f"{source}: not valid YAML: {error}") from error
    root = _as_mapping(document, source)

    raw_company = _as_mapping(_require(root, "company", source), "company")
    company = Company(
        name=_text(_require(raw_company, "name", "company")),
        timezone=_check_timezone(_text(raw_company.get("timezone", "UTC")), "company.timezone"),
        careers_email=raw_company.get("careers_email"),
        careers_url=raw_company.get("careers_url"),
    )
    default_region = _text(raw_company.get("phone_region", "US")).upper()

    recruiters = []
    for index, raw in enumerate(_as_list(root.get("recruiters"), "recruiters")):
        where = f"recruiters[{index}]"
        mapping = _as_mapping(raw, where)
        recruiters.append(Recruiter(
            id=_text(_require(mapping, "id", where)),
            name=_text(_require(mapping, "name", where)),
            email=_text(_require(mapping, "email", where)).lower(),
            slack_user_id=mapping.get("slack_user_id"),
        ))
    recruiter_ids = _unique_ids(recruiters, "recruiters")

    interviewers = [_parse_interviewer(raw, f"interviewers[{index}]")
                    for index, raw in enumerate(_as_list(root.get("interviewers"), "interviewers"))]
    interviewer_ids = _unique_ids(interviewers, "interviewers")

    jobs = [_parse_job(raw, f"jobs[{index}]") for index, raw in enumerate(_as_list(root.get("jobs"), "jobs"))]
    jobs_by_id = {job.id: job for job in jobs}
    _unique_ids(jobs, "jobs")
    for job_index, job in enumerate(jobs):
        for stage_index, stage in enumerate(job.stages):
            planned = stage.interview.interviewer_ids if stage.interview else ()
            unknown = [i for i in planned if i not in interviewer_ids]
            if unknown:
                raise SeedError(f"jobs[{job_index}].stages[{stage_index}].interview.interviewers: "
                                f"unknown interviewer {unknown[0]!r}")

    candidates: list[SeedCandidate] = []
    applications: list[SeedApplication] = []
    seen_phones: dict[str, str] = {}
    seen_emails: dict[str, str] = {}
    for index, raw in enumerate(_as_list(root.get("candidates"), "candidates")):
        where = f"candidates[{index}]"
        mapping = _as_mapping(raw, where)
        candidate_id = _text(_require(mapping, "id", where))
        phone = None
        if mapping.get("phone") is not None:
            phone = normalise_phone(str(mapping["phone"]), default_region)
            if phone is None:
                raise SeedError(f"{where}.phone: not a valid phone number: {mapping['phone']!r}")
            if phone in seen_phones:
                raise SeedError(f"{where}.phone: same number as candidate {seen_phones[phone]}")
            seen_phones[phone] = candidate_id
        email = _text(mapping["email"]).lower() if mapping.get("email") else None
        if email:
            if "@" not in email:
                raise SeedError(f"{where}.email: not an email address: {email!r}")
            if email in seen_emails:
                raise SeedError(f"{where}.email: same email as candidate {seen_emails[email]}")
            seen_emails[email] = candidate_id
        timezone = mapping.get("timezone")
        candidates.append(SeedCandidate(
            id=candidate_id,
            name=_text(_require(mapping, "name", where)),
            email=email,
            phone=phone,
            timezone=_check_timezone(_text(timezone), f"{where}.timezone") if timezone else None,
        ))
        for app_index, raw_app in enumerate(_as_list(mapping.get("applications"), f"{where}.applications")):
            applications.append(_parse_application(
                raw_app, f"{where}.applications[{app_index}]", candidate_id, app_index, jobs_by_id, recruiter_ids,
            ))
    _unique_ids(candidates, "candidates")
    _unique_ids(applications, "applications")

    return Seed(
        company=company,
        recruiters=tuple(recruiters),
        jobs=tuple(jobs),
        candidates=tuple(candidates),
        applications=tuple(applications),
        fingerprint=hashlib.sha256(text.encode()).hexdigest(),
        interviewers=tuple(interviewers),
    )


def _parse_application(
    raw: Any, where: str, candidate_id: str, index: int, jobs_by_id: dict[str, Job], recruiter_ids: set[str],
) -> SeedApplication:
    mapping = _as_mapping(raw, where)
    job_id = _text(_require(mapping, "job", where))
    job = jobs_by_id.get(job_id)
    if job is None:
        raise SeedError(f"{where}.job: unknown job {job_id!r}")
    stage_name = _text(_require(mapping, "stage", where))
    stage = job.stage_named(stage_name)
    if stage is None:
        known = ", ".join(s.name for s in job.stages)
        raise SeedError(f"{where}.stage: {stage_name!r} is not a stage of job {job_id} ({known})")
    status = _text(mapping.get("status", "active")).lower()
    if status not in APPLICATION_STATUSES:
        raise SeedError(f"{where}.status: must be one of {', '.join(APPLICATION_STATUSES)}, got {status!r}")
    recruiter_id = mapping.get("recruiter")
    if recruiter_id is not None and _text(recruiter_id) not in recruiter_ids:
        raise SeedError(f"{where}.recruiter: unknown recruiter {recruiter_id!r}")
    communicated = mapping.get("rejection_communicated", False)
    if not isinstance(communicated, bool):
        raise SeedError(f"{where}.rejection_communicated: expected true or false")
    return SeedApplication(
        id=_text(mapping.get("id") or f"{candidate_id}-{job_id}-{index}"),
        candidate_id=candidate_id,
        job_id=job_id,
        stage=stage.name,
        stage_changed=_as_date(_require(mapping, "stage_changed", where), f"{where}.stage_changed"),
        status=status,
        recruiter_id=_text(recruiter_id) if recruiter_id is not None else None,
        rejection_communicated=communicated,
        applied_on=_as_date(mapping["applied_on"], f"{where}.applied_on") if mapping.get("applied_on") else None,
    )


def _unique_ids(records: list, section: str) -> set[str]:
    ids: set[str] = set()
    for record in records:
        if record.id in ids:
            raise SeedError(f"{section}: id {record.id!r} is used twice")
        ids.add(record.id)
    return ids


def read_seed_file(path: str | Path) -> Seed:
    seed_path = Path(path)
    try:
        text = seed_path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise SeedError(f"{seed_path}: no such file") from error
    except (OSError, UnicodeDecodeError) as error:
        raise SeedError(f"{seed_path}: cannot be read: {error}") from error
    return parse_seed(text, source=str(seed_path))


@functools.lru_cache(maxsize=1)
def demo_candidate_emails() -> frozenset[str]:
    """The demo seed's candidates: the only people the demo careers page may sign a visitor in as."""
    return frozenset(candidate.email for candidate in read_seed_file(DEMO_SEED).candidates if candidate.email)
