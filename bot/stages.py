"""Plain-language explanations of hiring stages, whatever a company calls them.

Recruiters can write their own explanation per job stage in the seed file; where they have not,
the stage name is matched to one of the common stage kinds below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.ats.base import Job, Stage


@dataclass(frozen=True)
class StageGuide:
    kind: str
    meaning: str
    typical_days: tuple[int, int]
    needs_interview: bool


# Order matters: the first kind whose pattern matches a stage name wins ("recruiter screen"
# must be tried before the generic "screen" of an application review).
_GUIDES: tuple[tuple[str, StageGuide], ...] = (
    (r"\boffer\b", StageGuide(
        "offer",
        "the team would like to make you an offer, and your recruiter is preparing or discussing the details with you",
        (3, 10), False)),
    (r"\b(hired|accepted)\b", StageGuide("hired", "you have accepted an offer", (0, 0), False)),
    (r"\b(recruiter|phone|intro|introductory)\b.*\b(screen|call|chat)\b|\bscreening call\b", StageGuide(
        "recruiter_screen",
        "a short call (usually 20 to 30 minutes) with a recruiter about your background, what you are looking for, "
        "and the role",
        (3, 7), True)),
    (r"\bhiring manager\b", StageGuide(
        "hiring_manager", "a conversation with the hiring manager about the team, the work and your experience",
        (5, 10), True)),
    (r"\b(take[- ]?home|assignment|case study|exercise|assessment|work sample)\b", StageGuide(
        "take_home", "a short exercise you complete on your own time, which the team then reviews",
        (5, 10), False)),
    (r"\b(technical|coding|tech|system design|skills)\b", StageGuide(
        "technical_interview",
        "an interview with people from the team focused on the skills the role needs, such as problem solving "
        "and how you approach real work",
        (5, 14), True)),
    (r"\b(on[- ]?site|onsite|loop|panel|final|superday)\b", StageGuide(
        "onsite", "the final round: a set of interviews with several people you would work with, in person or by video",
        (7, 14), True)),
    (r"\breference", StageGuide(
        "references", "the team is speaking with the references you provided", (3, 7), False)),
    (r"\bbackground\b", StageGuide(
        "background_check", "a standard background check before your start date", (3, 10), False)),
    (r"\b(review|applied|new|screen|received|submitted)\b", StageGuide(
        "application_review", "the team is reading your application and comparing it with what the role needs",
        (5, 14), False)),
)
_FALLBACK = StageGuide("other", "the team is working on this step of the process", (5, 14), False)


def guide_for(stage_name: str) -> StageGuide:
    name = stage_name.casefold()
    for pattern, guide in _GUIDES:
        if re.search(pattern, name):
            return guide
    return _FALLBACK


@dataclass(frozen=True)
class StageExplanation:
    name: str
    meaning: str
    next_step: str
    typical_days: tuple[int, int]
    needs_interview: bool


def explain_stage(job: Job, stage_name: str) -> StageExplanation:
    """What the stage means, what comes next and how long it usually takes, for this job."""
    stage = job.stage_named(stage_name) or Stage(name=stage_name)
    guide = guide_for(stage.name)
    following = job.stage_after(stage.name)
    if stage.next_step:
        next_step = stage.next_step
    elif guide.kind == "offer":
        next_step = "once you and the team agree on the details, you'll receive the written offer to sign"
    elif following is not None:
        next_step = f"if it goes well, the next step is the {following.name} stage"
    else:
        next_step = "this is the last step, so you'll hear the team's decision next"
    return StageExplanation(
        name=stage.name,
        meaning=stage.description or guide.meaning,
        next_step=next_step,
        typical_days=stage.typical_days or guide.typical_days,
        needs_interview=stage.needs_interview if stage.needs_interview is not None else guide.needs_interview,
    )


def describe_duration(days: tuple[int, int]) -> str:
    """(5, 14) -> "1 to 2 weeks"; (3, 7) -> "3 to 7 days"."""
    low, high = days
    if high >= 14:
        low_weeks, high_weeks = max(1, round(low / 7)), round(high / 7)
        if low_weeks == high_weeks:
            return f"about {high_weeks} weeks"
        return f"{low_weeks} to {high_weeks} weeks"
    if low == high:
        return f"about {low} day{'s' if low != 1 else ''}"
    return f"{low} to {high} days"
