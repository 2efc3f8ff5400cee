"""Answers about a role, read live from the ATS's job data (so an edited job answers at once).

Which role a question means: the role the candidate named (matched loosely to open jobs), else a
job title named anywhere in the message, else, for a verified candidate, the job they applied to.
When that leaves several, the candidate is asked which one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.ats.base import ATS, Job
from bot.identity import VerifiedSender, find_verified_candidate
from bot.replies import Button, Reply
from bot.roles import names_a_role, plausible_roles, role_mentioned_in
from bot.stages import describe_duration, explain_stage

ASPECTS = {
    "ask_salary": "the pay range",
    "ask_location": "the location",
    "ask_remote": "remote work",
    "ask_role_details": "the role",
    "ask_interview_process": "the interview process",
}
MAX_CHOICES = 6


@dataclass(frozen=True)
class RoleResolution:
    job: Job | None
    choices: tuple[Job, ...] = ()
    unknown_role: str | None = None


@dataclass(frozen=True)
class RoleContext:
    jobs: list[Job]
    applied_jobs: list[Job]  # the verified candidate's live applications' jobs ("this role"); else empty


def load_role_context(ats: ATS, sender: VerifiedSender | None) -> RoleContext:
    """One blocking read of everything a role answer needs, so one ATS timeout bounds it."""
    jobs = ats.list_jobs()
    candidate = find_verified_candidate(ats, sender) if sender is not None else None
    if candidate is None:
        return RoleContext(jobs, [])
    return RoleContext(jobs, [a.job for a in ats.applications_for(candidate.id) if a.status == "active"])


def resolve_role(jobs: list[Job], role: str | None, message: str | None,
                 applied_jobs: list[Job] | None = None) -> RoleResolution:
    titles = [job.title for job in jobs]
    if not names_a_role(role):
        role = None  # "this role", "that one": the candidate's own job, below
    if role:
        indices = plausible_roles(role, titles)
        if len(indices) == 1:
            return RoleResolution(jobs[indices[0]])
        if indices:
            return RoleResolution(None, tuple(jobs[i] for i in indices))
    if message:
        index = role_mentioned_in(message, titles)
        if index is not None:
            return RoleResolution(jobs[index])
    if role:
        return RoleResolution(None, tuple(jobs), unknown_role=role)
    if applied_jobs:
        if len(applied_jobs) == 1:
            return RoleResolution(applied_jobs[0])
        return RoleResolution(None, tuple(applied_jobs))
    return RoleResolution(None, tuple(jobs))


def which_role(intent: str, resolution: RoleResolution) -> Reply:
    choices = resolution.choices[:MAX_CHOICES]
    aspect = ASPECTS.get(intent, "that")
    if resolution.unknown_role:
        text = f"I couldn't find an open role called \"{resolution.unknown_role}\". Which one did you mean?"
    elif not choices:
        return Reply("There are no open roles listed right now, so I can't answer that. A recruiter can help.")
    else:
        text = f"Which role would you like to know {aspect} for?"
    buttons = tuple(Button(job.title, f"/{intent}" + json.dumps({"role": job.title})) for job in choices)
    return Reply(text, buttons)


def _money(amount: int, currency: str) -> str:
    symbol = {"USD": "$", "CAD": "CA$", "AUD": "A$", "GBP": "£", "EUR": "€"}.get(currency)
    return f"{symbol}{amount:,}" if symbol else f"{amount:,} {currency}"


def _where(job: Job) -> str:
    place = job.location or "a location the recruiter can confirm"
    if job.remote == "remote":
        return f"fully remote ({place})"
    if job.remote == "hybrid":
        return f"hybrid, based in {place}, with some days in the office each week"
    if job.remote == "onsite":
        return f"on-site in {place}"
    return f"based in {place}"


def answer_about_role(intent: str, job: Job) -> Reply:
    title = job.title
    if intent == "ask_salary":
        if job.salary is None:
            return Reply(f"The {title} posting doesn't list a pay range. A recruiter can tell you more.")
        pay = f"{_money(job.salary.min, job.salary.currency)} to {_money(job.salary.max, job.salary.currency)}"
        return Reply(f"The {title} role pays {pay} a year in base salary, depending on experience.")
    if intent in ("ask_location", "ask_remote"):
        return Reply(f"The {title} role is {_where(job)}.")
    if intent == "ask_interview_process":
        steps = []
        for number, stage in enumerate(job.stages, start=1):
            explained = explain_stage(job, stage.name)
            timing = "" if explained.name.casefold() == "offer" else f" ({describe_duration(explained.typical_days)})"
            steps.append(f"{number}) {stage.name}{timing}")
        return Reply(f"The {title} hiring process has {len(job.stages)} steps:\n" + "\n".join(steps)
                     + "\nAsk me how to prepare for any of them.")
    team = f" on the {job.department} team" if job.department else ""
    description = job.description or "The posting has no description yet."
    return Reply(f"{title}{team}: {description} It's {_where(job)}.")
