"""Reading and checking an ATS seed file (YAML), the documented way to load the embedded ATS.

Every problem is reported with where it is ("candidates[2].applications[0].job: ...") so a
recruiter can fix the file without reading code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.ats.base import (
    APPLICATION_STATUSES,
    REMOTE_POLICIES,
    Company,
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


@dataclass(frozen=True)
class Seed:
    company: Company
    recruiters: tuple[Recruiter, ...]
    jobs: tuple[Job, ...]
    candidates: tuple[SeedCandidate, ...]
    applications: tuple[SeedApplication, ...]
    fingerprint: str


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
    needs_interview = mapping.get("interview")
    return Stage(
        name=_text(_require(mapping, "name", where)),
        description=mapping.get("description"),
        next_step=mapping.get("next_step"),
        typical_days=typical_days,
        needs_interview=bool(needs_interview) if needs_interview is not None else None,
    )


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

    jobs = [_parse_job(raw, f"jobs[{index}]") for index, raw in enumerate(_as_list(root.get("jobs"), "jobs"))]
    jobs_by_id = {job.id: job for job in jobs}
    _unique_ids(jobs, "jobs")

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
