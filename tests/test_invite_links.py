"""Calendar invite links (/webhooks/calendar/invite/<token>.ics) serve an interview only while it is worth
serving: not once it is cancelled, and not past INVITE_LINK_DAYS_AFTER days after it ended, so a forwarded or
leaked link does not tell its interview's details forever. A moved interview keeps its link, with the new time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from icalendar import Calendar

from bot.ats.base import Booking
from bot.ats.embedded import EmbeddedATS
from bot.clock import now_utc
from bot.invite import invite_link_open
from bot.settings import Settings
from channels.calendar import CalendarInvites
from tests.routes import call_route

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def _booking(ends_ago: dt.timedelta, status: str = "booked") -> Booking:
    ends = NOW - ends_ago
    return Booking(id="b1", application_id="c1-j1", candidate_id="c1", job_id="j1", job_title="ML Engineer",
                   stage="Technical Interview", starts_at=ends - dt.timedelta(hours=1), ends_at=ends, format="video",
                   interviewers=(), status=status, candidate_timezone="UTC", invite_token="t" * 24)


def test_a_booked_interview_link_is_open_before_and_for_a_week_after_the_interview():
    for ends_ago in (-dt.timedelta(days=3), dt.timedelta(0), dt.timedelta(days=6, hours=23), dt.timedelta(days=7)):
        assert invite_link_open(_booking(ends_ago), now=NOW, days_after=7), ends_ago


def test_a_link_closes_once_the_interview_ended_more_than_the_days_after():
    assert not invite_link_open(_booking(dt.timedelta(days=8)), now=NOW, days_after=7)
    assert not invite_link_open(_booking(dt.timedelta(days=7, seconds=1)), now=NOW, days_after=7)
    assert invite_link_open(_booking(dt.timedelta(days=8)), now=NOW, days_after=10)


def test_a_cancelled_or_moved_away_booking_link_is_closed_even_before_the_interview():
    for status in ("cancelled", "moved"):
        assert not invite_link_open(_booking(-dt.timedelta(days=2), status=status), now=NOW, days_after=7)
    assert not invite_link_open(None, now=NOW, days_after=7)


# --- through the blueprint's own route, on the embedded ATS (real SQLite) -------------------------------------


@pytest.fixture()
def invites(ats: EmbeddedATS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CalendarInvites:
    monkeypatch.setenv("ATS_DATABASE", str(tmp_path / "ats.db"))
    monkeypatch.setenv("STATE_DATABASE", str(tmp_path / "state.db"))
    monkeypatch.setenv("ATS_BACKEND", "embedded")
    monkeypatch.delenv("INVITE_LINK_DAYS_AFTER", raising=False)
    return CalendarInvites(Settings.from_env())


def _fetch(invites: CalendarInvites, booking: Booking):
    blueprint = invites.blueprint(lambda message: None)
    return call_route(blueprint, "GET", "/invite/<token:str>", token=f"{booking.invite_token}.ics")


def _book(ats: EmbeddedATS, starts_at: dt.datetime) -> Booking:
    application = ats.applications_for("c1")[0]
    return ats.book_interview(application.id, starts_at, candidate_timezone="America/New_York")


def _upcoming_slot(ats: EmbeddedATS, index: int = 0) -> dt.datetime:
    start = now_utc() + dt.timedelta(days=1)
    return ats.free_slots("j1", "Technical Interview", start, start + dt.timedelta(days=14))[index]


def test_a_live_booking_link_answers_200_with_the_invite(ats, invites):
    booking = _book(ats, _upcoming_slot(ats))
    answer = _fetch(invites, booking)
    assert answer.status == 200
    assert next(iter(Calendar.from_ical(answer.body).walk("VEVENT"))).decoded("dtstart") == booking.starts_at


def test_a_cancelled_booking_link_answers_404(ats, invites):
    booking = _book(ats, _upcoming_slot(ats))
    ats.cancel_interview(booking.id)
    assert _fetch(invites, booking).status == 404


def test_a_booking_whose_interview_ended_8_days_ago_answers_404(ats, invites):
    latest_start = now_utc() - dt.timedelta(days=8, hours=1)  # a one-hour interview that ended 8 days ago
    slot = ats.free_slots("j1", "Technical Interview", latest_start - dt.timedelta(days=7), latest_start)[-1]
    booking = _book(ats, slot)
    assert now_utc() - booking.ends_at >= dt.timedelta(days=8)
    assert _fetch(invites, booking).status == 404


def test_a_moved_booking_keeps_its_link_and_it_serves_the_new_time(ats, invites):
    booking = _book(ats, _upcoming_slot(ats))
    moved = ats.reschedule_interview(booking.id, _upcoming_slot(ats, 3))
    assert moved.invite_token == booking.invite_token
    answer = _fetch(invites, booking)
    assert answer.status == 200
    assert next(iter(Calendar.from_ical(answer.body).walk("VEVENT"))).decoded("dtstart") == moved.starts_at
