"""Small pieces the knowledge and role actions share, kept here so the actions stay thin."""

from __future__ import annotations

from bot.ats.base import ATS, Job
from bot.identity import VerifiedSender, find_verified_candidate
from bot.replies import Button, Reply


def applied_jobs(ats: ATS, sender: VerifiedSender) -> list[Job]:
    """The jobs of a verified candidate's live applications (for "this role")."""
    candidate = find_verified_candidate(ats, sender)
    if candidate is None:
        return []
    return [application.job for application in ats.applications_for(candidate.id) if application.status == "active"]


def unknown_answer() -> Reply:
    return Reply("I don't have a reliable answer to that, and I'd rather not guess. "
                 "Would you like me to ask a recruiter?",
                 (Button("Yes, ask a recruiter", "/request_human"), Button("No thanks", "/deny")))
