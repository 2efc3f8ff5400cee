"""The .ics calendar invite for a booked interview (RFC 5545, written by the `icalendar` library).

One UID per booking across moves, with a rising SEQUENCE, so a calendar that imported the first
version updates the event instead of adding a second one; a cancelled booking is METHOD:CANCEL.
"""

from __future__ import annotations

import datetime as dt

from icalendar import Alarm, Calendar, Event, vCalAddress, vText

from bot.ats.base import Booking, Company
from bot.scheduling import FORMAT_WORDS


def invite_link_open(booking: Booking | None, *, now: dt.datetime, days_after: float) -> bool:
    """Whether a calendar link still serves its interview: not once it is cancelled (or moved away from, should a
    link ever name an old version), nor `days_after` days after it ended, so a forwarded or leaked link does not
    tell the interview's time, place and interviewers forever."""
    return (booking is not None and booking.status == "booked"
            and now <= booking.ends_at + dt.timedelta(days=days_after))


def invite_path(booking: Booking) -> str:
    return f"/webhooks/calendar/invite/{booking.invite_token}.ics"


def invite_url(public_base_url: str, booking: Booking) -> str:
    return f"{public_base_url.rstrip('/')}{invite_path(booking)}"


def interview_invite(booking: Booking, company: Company, prep: str | None = None,
                     now: dt.datetime | None = None) -> bytes:
    cancelled = booking.status == "cancelled"
    calendar = Calendar()
    calendar.add("prodid", "-//Candidate Assistant//Interview booking//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")
    event = Event()
    event.add("uid", f"{booking.invite_token}@candidate-assistant")
    event.add("sequence", booking.sequence)
    event.add("dtstamp", now or dt.datetime.now(dt.timezone.utc))
    event.add("dtstart", booking.starts_at)
    event.add("dtend", booking.ends_at)
    event.add("summary", f"{booking.stage}: {booking.job_title} at {company.name}")
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    lines = [f"{booking.stage} for {booking.job_title} ({booking.duration_minutes} min, "
             f"{FORMAT_WORDS[booking.format]})."]
    if booking.interviewers:
        lines.append("With " + ", ".join(
            f"{i.name} ({i.title})" if i.title else i.name for i in booking.interviewers) + ".")
    if booking.format == "video" and booking.video_link:
        event.add("location", booking.video_link)
        event.add("url", booking.video_link)
        lines.append(f"Join: {booking.video_link}")
    elif booking.format == "onsite" and booking.location:
        event.add("location", booking.location)
    else:
        event.add("location", vText("Phone call: we'll call you"))
    if prep:
        lines.append(f"How to prepare: {prep}")
    if company.careers_email:
        lines.append(f"Questions: {company.careers_email}")
        organizer = vCalAddress(f"mailto:{company.careers_email}")
        organizer.params["cn"] = vText(company.name)
        event.add("organizer", organizer)
    event.add("description", "\n".join(lines))
    if not cancelled:
        for minutes in (24 * 60, 60):
            alarm = _alarm(booking, minutes)
            event.add_component(alarm)
    calendar.add_component(event)
    return calendar.to_ical()


def _alarm(booking: Booking, minutes: int):
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"{booking.stage} for {booking.job_title}")
    alarm.add("trigger", dt.timedelta(minutes=-minutes))
    return alarm
