"""Booking interviews: who may book what, which times to offer, and what to tell the candidate.

Everything here is plain Python over the ATS interface; the Rasa actions only carry values between
these functions and the conversation. Times are aware UTC inside, shown in the candidate's zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.ats.base import ATS, Application, Booking, Candidate, Company, InterviewPlan, InterviewScheduler
from bot.identity import VerifiedSender, find_verified_candidate
from bot.knowledge import KnowledgeBase
from bot.replies import ASK_FOR_RECRUITER, Button, Reply
from bot.roles import best_role_match, names_a_role, role_mentioned_in
from bot.stages import explain_stage
from bot.when import TimePreference, describe_timezone, format_slot, understand_time

FORMAT_WORDS = {"phone": "phone call", "video": "video call", "onsite": "in-person interview"}
MOVE_OR_CANCEL = (Button("Move it", "/reschedule_interview"), Button("Cancel it", "/cancel_interview"))


@dataclass(frozen=True)
class SchedulingRules:
    """How far ahead candidates may book, and how many times to offer at once."""

    min_notice: dt.timedelta = dt.timedelta(hours=12)
    horizon: dt.timedelta = dt.timedelta(days=14)
    offer_count: int = 5
    reminders: tuple[dt.timedelta, ...] = (dt.timedelta(hours=24), dt.timedelta(hours=1))


@dataclass(frozen=True)
class SchedulingContext:
    candidate: Candidate
    company: Company
    applications: tuple[Application, ...]
    bookings: tuple[Booking, ...]  # booked and still ahead

    def plan_for(self, application: Application) -> InterviewPlan | None:
        stage = application.job.stage_named(application.stage)
        return stage.interview if stage else None

    @property
    def bookable(self) -> tuple[Application, ...]:
        """Active applications at a stage candidates book themselves, not booked yet."""
        booked = {(b.application_id, b.stage) for b in self.bookings}
        return tuple(a for a in self.applications if a.status == "active" and self.plan_for(a) is not None
                     and (a.id, a.stage) not in booked)


def load_scheduling_context(ats: ATS, sender: VerifiedSender, now: dt.datetime) -> SchedulingContext | None:
    """One blocking read of everything a booking decision needs, or None for an unknown sender."""
    candidate = find_verified_candidate(ats, sender)
    if candidate is None:
        return None
    assert isinstance(ats, InterviewScheduler)
    bookings = tuple(b for b in ats.bookings_for(candidate.id) if b.ends_at > now)
    return SchedulingContext(candidate, ats.company(), tuple(ats.applications_for(candidate.id)), bookings)


# --- choosing what to book or change -----------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    """The outcome of "I want to book/move/cancel": the item to act on, or what to say instead."""

    application: Application | None = None
    booking: Booking | None = None
    reply: Reply | None = None


def _pick(items: list, titles: list[str], role: str | None, message: str | None):
    if len(items) == 1:
        return items[0]
    if role and names_a_role(role):
        index = best_role_match(role, titles)
        if index is not None:
            return items[index]
    if message:
        index = role_mentioned_in(message, titles)
        if index is not None:
            return items[index]
    return None


def choose_application(context: SchedulingContext, role: str | None, message: str | None) -> Choice:
    bookable = list(context.bookable)
    if bookable:
        application = _pick(bookable, [a.job.title for a in bookable], role, message)
        if application is not None:
            return Choice(application=application)
        return Choice(reply=Reply(
            "You have interviews to book for more than one role. Which one would you like to schedule?",
            tuple(Button(f"{a.job.title} ({a.stage})", f'/book_interview{{"role": "{a.job.title}"}}')
                  for a in bookable)))
    if context.bookings:
        booking = context.bookings[0]
        return Choice(reply=Reply(
            f"You're already booked: your {booking.stage} for {booking.job_title} is on "
            f"{format_slot(booking.starts_at, booking.candidate_timezone)}. Would you like to move it or cancel it?",
            MOVE_OR_CANCEL))
    waiting = [a for a in context.applications
               if a.status == "active" and explain_stage(a.job, a.stage).needs_interview]
    if waiting:
        return Choice(reply=Reply(
            f"Your recruiter schedules the {waiting[0].stage} for {waiting[0].job.title} with you directly, so "
            "there's nothing to book here yet. Would you like me to ask them to get in touch?",
            (ASK_FOR_RECRUITER,)))
    return Choice(reply=Reply(
        "None of your applications is at a step with an interview to book right now. When it is, I'll "
        "help you pick a time. Would you like to know where your applications stand?",
        (Button("Where's my application?", "/check_status"),)))


def choose_booking(context: SchedulingContext, role: str | None, message: str | None, action: str) -> Choice:
    """The booked interview to move or cancel (`action` is "move" or "cancel")."""
    bookings = list(context.bookings)
    if not bookings:
        return Choice(reply=Reply(
            f"I can't find an upcoming interview booked for you, so there's nothing to {action}. "
            "Would you like to book one?", (Button("Book an interview", "/book_interview"),)))
    booking = _pick(bookings, [b.job_title for b in bookings], role, message)
    if booking is not None:
        return Choice(booking=booking)
    intent = "reschedule_interview" if action == "move" else "cancel_interview"
    return Choice(reply=Reply(
        f"You have more than one interview booked. Which one would you like to {action}?",
        tuple(Button(f"{b.job_title}, {format_slot(b.starts_at, b.candidate_timezone)}",
                     f'/{intent}{{"role": "{b.job_title}"}}') for b in bookings)))


# --- offering times ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Offer:
    slots: tuple[dt.datetime, ...]
    fits_preference: bool  # False: nothing matched what was asked, these are the nearest


def spread(slots: list[dt.datetime], count: int, zone: str) -> list[dt.datetime]:
    """Up to `count` slots over as many days as possible, soonest days first, mornings and afternoons mixed."""
    by_day: dict[dt.date, list[dt.datetime]] = {}
    for slot in sorted(slots):
        by_day.setdefault(slot.astimezone(ZoneInfo(zone)).date(), []).append(slot)
    # Each day's slots in the order earliest, latest, second earliest, second latest, ...
    queues = []
    for day_slots in by_day.values():
        order = []
        while day_slots:
            order.append(day_slots.pop(0))
            if day_slots:
                order.append(day_slots.pop())
        queues.append(order)
    chosen: list[dt.datetime] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return sorted(chosen)


def offer_slots(free: list[dt.datetime], preference: TimePreference, zone: str, now: dt.datetime,
                count: int) -> Offer:
    """Which free times to show for what the candidate asked."""
    tz = ZoneInfo(zone)
    fitting = [slot for slot in free if preference.admits(slot.astimezone(tz).replace(tzinfo=None))]
    if fitting:
        return Offer(tuple(fitting[:count] if preference.earliest or preference.time else spread(fitting, count, zone)),
                     True)
    target = preference.target(now.astimezone(tz).date())
    nearest = sorted(free, key=lambda slot: abs(slot.astimezone(tz).replace(tzinfo=None) - target))[:count]
    return Offer(tuple(sorted(nearest)), preference.is_empty)


def exact_slot(free: list[dt.datetime], preference: TimePreference, zone: str) -> dt.datetime | None:
    if not preference.is_exact:
        return None
    wanted = dt.datetime.combine(preference.date, preference.time, tzinfo=ZoneInfo(zone))
    return next((slot for slot in free if slot == wanted), None)


def free_times(ats: InterviewScheduler, application: Application, rules: SchedulingRules,
               now: dt.datetime) -> list[dt.datetime]:
    """Bookable start times for the application's current stage, within the booking window."""
    return ats.free_slots(application.job.id, application.stage, now + rules.min_notice, now + rules.horizon)


def own_booking(context: SchedulingContext, booking_id: str | None) -> Booking | None:
    """The booking named by a slot, only if it is one of this candidate's own that is still ahead."""
    return next((b for b in context.bookings if b.id == booking_id), None) if booking_id else None


def booked_for(bookings: list[Booking], application_id: str) -> Booking | None:
    """The interview already booked for an application: what a pick meets when the same message was processed
    before (a server booked it, then died before answering, and the message came again)."""
    return next((b for b in bookings if b.application_id == application_id and b.status == "booked"), None)


def application_by_id(context: SchedulingContext, application_id: str | None) -> Application | None:
    return next((a for a in context.applications if a.id == application_id), None)


def describe_preference(preference: TimePreference) -> str:
    parts = []
    if preference.date:
        parts.append(f"on {preference.date:%A} {preference.date:%b} {preference.date.day}")
    elif preference.span:
        parts.append(f"between {preference.span[0]:%a %b} {preference.span[0].day} and "
                     f"{preference.span[1]:%a %b} {preference.span[1].day}")
    if preference.time:
        hour = preference.time.hour % 12 or 12
        parts.append(f"at {hour}:{preference.time:%M} {'AM' if preference.time.hour < 12 else 'PM'}")
    elif preference.hours:
        start, end = preference.hours
        names = {(8, 12): "in the morning", (12, 17): "in the afternoon", (17, 21): "in the evening"}
        parts.append(names.get((start, end)) or (f"after {_hour(start)}" if end == 24 else
                                                 f"before {_hour(end)}" if start == 0 else
                                                 f"between {_hour(start)} and {_hour(end)}"))
    return " ".join(parts)


def _hour(hour: int) -> str:
    return f"{hour % 12 or 12} {'AM' if hour < 12 else 'PM'}"


def slot_buttons(slots: tuple[dt.datetime, ...], zone: str) -> tuple[Button, ...]:
    # The payload is the time in words (in the candidate's zone): typed or tapped, it is understood the same way.
    return tuple(Button(format_slot(slot, zone), format_slot(slot, zone, with_zone=False)) for slot in slots)


def offer_reply(application: Application, plan: InterviewPlan, offer: Offer, zone: str,
                preference: TimePreference, rescheduling: bool) -> Reply:
    what = f"your {application.stage} for {application.job.title}"
    length = f"{plan.duration_minutes}-minute {FORMAT_WORDS[plan.format]}"
    if not offer.slots:
        return Reply(f"I'm sorry, there are no open times for {what} in the next two weeks. I've let the "
                     "recruiting team know, and a recruiter will get in touch to find a time with you.")
    asked = describe_preference(preference)
    if asked and not offer.fits_preference:
        intro = f"Sorry, nothing is free {asked}. The closest open times for {what} ({length}) are"
    elif asked:
        intro = f"Open times {asked} for {what} ({length}) are"
    else:
        intro = f"{'To move' if rescheduling else 'To book'} {what} ({length}), here are some open times"
    return Reply(f"{intro}, in {describe_timezone(zone)}. Pick one, or tell me another day or time that suits "
                 "you.", slot_buttons(offer.slots, zone))


# --- understanding the candidate's pick ----------------------------------------------------------

def understand_pick(text: str, free: list[dt.datetime], zone: str, now: dt.datetime) -> tuple[dt.datetime | None,
                                                                                               TimePreference]:
    """The free slot the text names exactly, if any, and the preference it expressed."""
    preference = understand_time(text, now.astimezone(ZoneInfo(zone)).replace(tzinfo=None))
    return exact_slot(free, preference, zone), preference


# --- what the candidate is told ----------------------------------------------------------------

def _people(booking: Booking) -> str:
    names = [f"{i.name} ({i.title})" if i.title else i.name for i in booking.interviewers]
    if not names:
        return ""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


def _where(booking: Booking) -> str:
    if booking.format == "video":
        return f"Video link: {booking.video_link}"
    if booking.format == "onsite":
        return f"Address: {booking.location}. Please bring a photo ID."
    return "We'll call you on the phone number on your application."


def confirmation_replies(booking: Booking, invite_url: str, prep: str | None, moved: bool) -> tuple[Reply, ...]:
    when = format_slot(booking.starts_at, booking.candidate_timezone)
    people = _people(booking)
    meet = f" You'll meet {people}." if people else ""
    verb = "Done, I've moved" if moved else "You're booked! I've scheduled"
    main = (f"{verb} your {booking.stage} for {booking.job_title} to {when} "
            f"({booking.duration_minutes} min, {FORMAT_WORDS[booking.format]}).{meet} {_where(booking)}\n"
            f"Add it to your calendar: {invite_url}\n"
            "I'll send you a reminder the day before and an hour before. To change it, just say "
            "\"reschedule my interview\" or \"cancel my interview\".")
    replies = [Reply(main)]
    if prep:
        replies.append(Reply(f"To prepare: {prep}"))
    return tuple(replies)


def cancellation_question(booking: Booking) -> Reply:
    return Reply(f"Just to check: cancel your {booking.stage} for {booking.job_title} on "
                 f"{format_slot(booking.starts_at, booking.candidate_timezone)}?",
                 (Button("Yes, cancel it", "/affirm"), Button("No, keep it", "/deny")))


def cancelled_reply(booking: Booking) -> Reply:
    return Reply(f"Done: your {booking.stage} for {booking.job_title} on "
                 f"{format_slot(booking.starts_at, booking.candidate_timezone)} is cancelled, and I've let the "
                 "team know. Whenever you're ready, say \"book my interview\" to pick a new time.")


def reminder_text(booking: Booking, lead: dt.timedelta) -> str:
    when = format_slot(booking.starts_at, booking.candidate_timezone)
    soon = "in about an hour" if lead <= dt.timedelta(hours=2) else "tomorrow" if lead <= dt.timedelta(
        hours=36) else "coming up"
    return (f"Reminder: your {booking.stage} for {booking.job_title} is {soon}, {when} "
            f"({booking.duration_minutes} min, {FORMAT_WORDS[booking.format]}). {_where(booking)} "
            "If you need to change it, just reply \"reschedule my interview\". Good luck!")


def prep_for_stage(knowledge: KnowledgeBase | None, stage: str) -> str | None:
    """Prep material for a stage: the knowledge entry written for it, else the best answer to "how to prepare"."""
    if knowledge is None:
        return None
    wanted = stage.casefold()
    for entry in knowledge.index().entries:
        if entry.stage and entry.stage.casefold() == wanted:
            return entry.answer
    answer = knowledge.answer(f"How should I prepare for the {stage}?")
    return answer.entry.answer if answer.found else None
