"""Composing the answer to "where's my application?" for a verified candidate.

Pure functions of ATS records and today's date, so every wording is testable without a server.
A rejection the company has not yet told the candidate about is never revealed: that application
is routed to the recruiter instead (`StatusAnswer.handoffs`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from bot.ats.base import ATS, Application, Candidate, Company
from bot.identity import VerifiedSender, find_verified_candidate
from bot.replies import ASK_FOR_RECRUITER, Button, Reply
from bot.roles import best_role_match, role_mentioned_in
from bot.stages import describe_duration, explain_stage

UNCOMMUNICATED_REJECTION = "uncommunicated_rejection"


@dataclass(frozen=True)
class Handoff:
    application_id: str
    reason: str


@dataclass(frozen=True)
class StatusAnswer:
    replies: tuple[Reply, ...]
    handoffs: tuple[Handoff, ...] = field(default_factory=tuple)
    focused: bool = True  # False: a list of applications, the candidate is asked which one


def _date(day: dt.date) -> str:
    return f"{day:%b} {day.day}"


def _since(day: dt.date, today: dt.date) -> str:
    days = (today - day).days
    if days <= 0:
        return f"since today ({_date(day)})"
    if days == 1:
        return f"since yesterday ({_date(day)})"
    return f"since {_date(day)}, {days} days ago"


def _recruiter_line(application: Application) -> str:
    if application.recruiter is None:
        return "Your recruiter will be assigned soon."
    return f"Your recruiter is {application.recruiter.name}."


def _is_hidden(application: Application) -> bool:
    return application.status == "rejected" and not application.rejection_communicated


def describe_application(application: Application, today: dt.date, company: Company) -> Reply:
    """The full explanation of one application, in plain words."""
    title = application.job.title
    if _is_hidden(application):
        return Reply(
            f"I don't have an update on your {title} application that I can share here. I've asked "
            "your recruiter to get in touch with you directly.",
        )
    if application.status == "hired":
        return Reply(f"Congratulations, you've accepted the offer for {title}! {_recruiter_line(application)} "
                     "They'll be in touch about your start date and onboarding.")
    if application.status == "withdrawn":
        return Reply(f"Your application for {title} was withdrawn on {_date(application.stage_changed)}. "
                     "If that's a mistake or you'd like to apply again, a recruiter can help.",
                     (ASK_FOR_RECRUITER,))
    if application.status == "rejected":
        where = f" at {company.careers_url}" if company.careers_url else ""
        careers = f" You're welcome to apply for other roles{where}."
        return Reply(f"Your application for {title} has closed: on {_date(application.stage_changed)} the team "
                     f"decided not to move forward. Thank you for the time you put into it.{careers}")

    stage = explain_stage(application.job, application.stage)
    days_in_stage = (today - application.stage_changed).days
    text = (
        f"Your application for {title} is at the {stage.name} stage ({_since(application.stage_changed, today)}). "
        f"This means {stage.meaning}. Next: {stage.next_step}. "
        f"This stage usually takes {describe_duration(stage.typical_days)}. {_recruiter_line(application)}"
    )
    buttons: tuple[Button, ...] = ()
    if days_in_stage > stage.typical_days[1]:
        text += " It's been a little longer than usual, so I can ask your recruiter for an update."
        buttons = (ASK_FOR_RECRUITER,)
    return Reply(text, buttons)


def _one_line(application: Application, today: dt.date) -> str:
    title = application.job.title
    if _is_hidden(application):
        return f"{title}: your recruiter will get in touch with you directly"
    if application.status == "active":
        return f"{title}: {application.stage} ({_since(application.stage_changed, today)})"
    labels = {"hired": "offer accepted", "withdrawn": "withdrawn", "rejected": "closed"}
    return f"{title}: {labels[application.status]} ({_date(application.stage_changed)})"


def details_payload(application: Application) -> str:
    return "/check_status" + json.dumps({"role": application.job.title})


def status_answer(
    candidate: Candidate,
    applications: list[Application],
    company: Company,
    today: dt.date,
    role: str | None = None,
    message: str | None = None,
) -> StatusAnswer:
    """Everything to say to a verified candidate asking for their status.

    `role` is a role the NLU extracted; `message` is the candidate's words, searched for one of
    their own job titles when several applications could be meant.
    """
    # Live applications first, then the most recently changed.
    applications = sorted(applications, key=lambda a: (a.status != "active", -a.stage_changed.toordinal()))
    handoffs = tuple(Handoff(a.id, UNCOMMUNICATED_REJECTION) for a in applications if _is_hidden(a))
    if not applications:
        careers = f" at {company.careers_url}" if company.careers_url else ""
        return StatusAnswer((Reply(
            f"Hi {candidate.first_name}, I can't find an application from you at {company.name} yet. "
            f"If you applied in the last day it may still be on its way. You can browse open roles{careers}, "
            "or I can put you in touch with a recruiter.",
            (ASK_FOR_RECRUITER,),
        ),))

    chosen = None
    titles = [a.job.title for a in applications]
    index = best_role_match(role, titles) if role else None
    if index is None and message and len(applications) > 1:
        index = role_mentioned_in(message, titles)
    if index is not None:
        chosen = applications[index]
    if chosen is None and len(applications) == 1:
        chosen = applications[0]

    if chosen is not None:
        focused = tuple(h for h in handoffs if h.application_id == chosen.id)
        detail = describe_application(chosen, today, company)
        return StatusAnswer((Reply(f"Hi {candidate.first_name}! {detail.text}", detail.buttons),), focused)

    # Bullets, not numbers: channels number the choices themselves (SMS: "Reply with a number").
    lines = "\n".join(f"- {_one_line(a, today)}" for a in applications)
    intro = f"Hi {candidate.first_name}! You have {len(applications)} applications with {company.name}:"
    if role:
        intro = f"Hi {candidate.first_name}! I couldn't tell which application you meant by \"{role}\". " \
                f"You have {len(applications)} with {company.name}:"
    buttons = tuple(Button(a.job.title, details_payload(a)) for a in applications)
    return StatusAnswer((Reply(f"{intro}\n{lines}\nWhich one would you like details on?", buttons),), handoffs,
                        focused=False)


@dataclass(frozen=True)
class StatusContext:
    candidate: Candidate
    applications: list[Application]
    company: Company


def load_status_context(ats: ATS, sender: VerifiedSender) -> StatusContext | None:
    """One blocking read of everything a status answer needs, or None for an unknown sender."""
    candidate = find_verified_candidate(ats, sender)
    if candidate is None:
        return None
    return StatusContext(candidate, ats.applications_for(candidate.id), ats.company())
