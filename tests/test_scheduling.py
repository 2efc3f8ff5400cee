"""Interview scheduling on the embedded ATS (real SQLite): availability, booking, races, DST, invites."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from bot.ats.base import AlreadyBooked, BookingNotFound, NotInterviewStage, SlotTaken
from bot.ats.embedded import EmbeddedATS
from bot.ats.seed import SeedError, parse_seed
from bot.invite import interview_invite, invite_url
from bot.scheduling import (
    SchedulingContext,
    choose_application,
    confirmation_replies,
    offer_reply,
    offer_slots,
    reminder_text,
    spread,
)
from bot.when import TimePreference, format_slot

UTC = dt.timezone.utc
NY = ZoneInfo("America/New_York")
# Monday 2026-11-23; the demo's interviewers work weekdays in New York, Chicago and Los Angeles.
MONDAY = dt.datetime(2026, 11, 23, 0, 0, tzinfo=NY)
WEEK = dt.timedelta(days=7)


def _utc(year, month, day, hour, minute=0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def _app(ats: EmbeddedATS, candidate_id: str):
    return ats.applications_for(candidate_id)[0]


# --- availability ------------------------------------------------------------------------------

def test_free_slots_follow_working_hours_of_the_whole_panel(ats):
    slots = ats.free_slots("j1", "Technical Interview", MONDAY, MONDAY + dt.timedelta(days=1))
    local = [s.astimezone(NY).strftime("%H:%M") for s in slots]
    # Alex works 10-12 and 14-17, Sam 9-12 and 13-16: together 10-12 and 14-16, 60 minutes, every half hour.
    assert local == ["10:00", "10:30", "11:00", "14:00", "14:30", "15:00"]


def test_no_slots_on_days_nobody_works_and_stages_without_interviews(ats):
    saturday = dt.datetime(2026, 11, 28, tzinfo=NY)
    assert ats.free_slots("j1", "Technical Interview", saturday, saturday + dt.timedelta(days=2)) == []
    assert ats.free_slots("j1", "Application Review", MONDAY, MONDAY + WEEK) == []


def test_busy_blocks_from_the_seed_remove_times(demo_seed, tmp_path):
    text = Path(demo_seed_path()).read_text().replace(
        "  - id: i-alex\n", "  - id: i-alex\n    busy: [{start: 2026-11-23T10:00, end: 2026-11-23T11:00}]\n")
    embedded = EmbeddedATS(tmp_path / "busy.db")
    embedded.load_seed(parse_seed(text))
    local = [s.astimezone(NY).strftime("%H:%M")
             for s in embedded.free_slots("j1", "Technical Interview", MONDAY, MONDAY + dt.timedelta(days=1))]
    assert local == ["11:00", "14:00", "14:30", "15:00"]


def demo_seed_path() -> str:
    from tests.conftest import DEMO_SEED

    return str(DEMO_SEED)


def test_interviewer_hours_stay_local_across_daylight_saving(ats):
    # US clocks go back on Sunday Nov 1 2026; the UK's went back a week earlier, on Oct 25.
    before = dt.datetime(2026, 10, 29, tzinfo=NY)  # Thursday, New York still on EDT
    after = dt.datetime(2026, 11, 5, tzinfo=NY)  # Thursday, EST
    first_before = ats.free_slots("j1", "Technical Interview", before, before + dt.timedelta(days=1))[0]
    first_after = ats.free_slots("j1", "Technical Interview", after, after + dt.timedelta(days=1))[0]
    assert first_before == _utc(2026, 10, 29, 14)  # 10:00 EDT
    assert first_after == _utc(2026, 11, 5, 15)  # 10:00 EST
    # A London candidate sees the hour move, because only New York changed clocks between the two weeks.
    assert format_slot(first_before, "Europe/London") == "Thu Oct 29, 2:00 PM GMT"
    assert format_slot(first_after, "Europe/London") == "Thu Nov 5, 3:00 PM GMT"
    assert format_slot(first_before, "America/New_York") == "Thu Oct 29, 10:00 AM EDT"
    assert format_slot(first_after, "America/New_York") == "Thu Nov 5, 10:00 AM EST"
    assert format_slot(first_after, "Asia/Kolkata") == "Thu Nov 5, 8:30 PM IST"


def test_a_candidate_in_another_zone_sees_the_same_instant_in_their_own_time(ats):
    slot = ats.free_slots("j5", "Technical Interview", MONDAY, MONDAY + dt.timedelta(days=1))[0]
    assert format_slot(slot, "America/Los_Angeles") == "Mon Nov 23, 8:00 AM PST"  # Ravi's first hour
    assert format_slot(slot, "Europe/Berlin") == "Mon Nov 23, 5:00 PM CET"


# --- booking -----------------------------------------------------------------------------------

def test_booking_takes_the_time_and_cancelling_frees_it(ats):
    application = _app(ats, "c1")
    slot = ats.free_slots("j1", "Technical Interview", MONDAY, MONDAY + WEEK)[0]
    booking = ats.book_interview(application.id, slot, candidate_timezone="America/New_York",
                                 conversation_id="sms-priya", channel="twilio")
    assert (booking.status, booking.starts_at, booking.duration_minutes) == ("booked", slot, 60)
    assert [i.name for i in booking.interviewers] == ["Alex Kim", "Sam Ortiz"]
    assert booking.video_link == "https://meet.acme.example/ml-technical"
    assert slot not in ats.free_slots("j1", "Technical Interview", MONDAY, MONDAY + WEEK)
    assert ats.bookings_for("c1") == [booking]

    cancelled = ats.cancel_interview(booking.id)
    assert cancelled.status == "cancelled"
    assert slot in ats.free_slots("j1", "Technical Interview", MONDAY, MONDAY + WEEK)
    assert ats.bookings_for("c1") == []
    with pytest.raises(BookingNotFound):
        ats.cancel_interview(booking.id)


def test_the_same_time_cannot_be_booked_twice_even_across_jobs_sharing_an_interviewer(ats):
    slot = ats.free_slots("j1", "Technical Interview", MONDAY, MONDAY + dt.timedelta(days=1))[0]  # 10:00 ET
    ats.book_interview(_app(ats, "c1").id, slot, candidate_timezone="America/New_York")
    with pytest.raises(SlotTaken):
        ats.book_interview(_app(ats, "c10").id, slot, candidate_timezone="America/Los_Angeles")
    # Sam sits on both panels: the backend interview may not overlap his 10:00-11:00 either.
    backend = ats.free_slots("j5", "Technical Interview", MONDAY, MONDAY + dt.timedelta(days=1))
    assert all(not (slot - dt.timedelta(minutes=59) <= s < slot + dt.timedelta(hours=1)) for s in backend)
    with pytest.raises(SlotTaken):
        ats.book_interview(_app(ats, "c9").id, slot + dt.timedelta(minutes=30), candidate_timezone="Europe/Berlin")


def test_times_outside_availability_and_wrong_stages_are_refused(ats):
    with pytest.raises(SlotTaken):
        ats.book_interview(_app(ats, "c1").id, _utc(2026, 11, 23, 3), candidate_timezone="UTC")  # 10 pm ET
    with pytest.raises(NotInterviewStage):  # James' Senior Backend application is at Application Review
        james_review = next(a for a in ats.applications_for("c2") if a.stage == "Application Review")
        ats.book_interview(james_review.id, _utc(2026, 11, 23, 15), candidate_timezone="UTC")


def test_one_booking_per_application_and_stage(ats):
    application = _app(ats, "c1")
    first, second = ats.free_slots("j1", "Technical Interview", MONDAY, MONDAY + WEEK)[:2]
    ats.book_interview(application.id, first, candidate_timezone="America/New_York")
    with pytest.raises(AlreadyBooked):
        ats.book_interview(application.id, second, candidate_timezone="America/New_York")


def test_reschedule_moves_atomically_and_keeps_the_calendar_link(ats):
    slots = ats.free_slots("j1", "Technical Interview", MONDAY, MONDAY + WEEK)
    booking = ats.book_interview(_app(ats, "c1").id, slots[0], candidate_timezone="America/New_York")
    other = ats.book_interview(_app(ats, "c10").id, slots[5], candidate_timezone="America/Los_Angeles")
    with pytest.raises(SlotTaken):  # the new time is taken: nothing changes
        ats.reschedule_interview(booking.id, other.starts_at)
    assert ats.get_booking(booking.id).status == "booked"
    assert slots[0] not in ats.free_slots("j1", "Technical Interview", MONDAY, MONDAY + WEEK)

    moved = ats.reschedule_interview(booking.id, slots[1])  # overlaps the old hour: allowed, it is ours
    assert moved.id != booking.id and moved.starts_at == slots[1]
    assert (moved.invite_token, moved.sequence) == (booking.invite_token, booking.sequence + 1)
    assert ats.get_booking(booking.id).status == "moved"
    assert ats.booking_for_invite(booking.invite_token) == moved
    assert slots[0] not in ats.free_slots("j1", "Technical Interview", MONDAY, MONDAY + WEEK)  # overlaps moved
    assert slots[3] in ats.free_slots("j1", "Technical Interview", MONDAY, MONDAY + WEEK)


def test_two_candidates_racing_for_the_last_slot_exactly_one_wins(tmp_path, demo_seed):
    path = tmp_path / "race.db"
    EmbeddedATS(path).load_seed(demo_seed)
    contenders = ["c1", "c10"] * 4  # eight concurrent attempts, each with its own connection pool
    instances = [EmbeddedATS(path, timeout=10) for _ in contenders]
    applications = [_app(instance, candidate) for instance, candidate in zip(instances, contenders, strict=True)]
    slot = instances[0].free_slots("j1", "Technical Interview", MONDAY, MONDAY + WEEK)[0]
    barrier = threading.Barrier(len(contenders))
    outcomes: list[str] = []

    def attempt(index: int) -> None:
        barrier.wait()
        try:
            instances[index].book_interview(applications[index].id, slot, candidate_timezone="UTC")
            outcomes.append("booked")
        except (SlotTaken, AlreadyBooked) as error:
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(contenders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("booked") == 1
    assert set(outcomes) <= {"booked", "SlotTaken", "AlreadyBooked"}
    booked = [b for c in ("c1", "c10") for b in instances[0].bookings_for(c)]
    assert len(booked) == 1 and booked[0].starts_at == slot
    # The loser is offered other times: the slot is gone, the rest of the week is still there.
    remaining = instances[0].free_slots("j1", "Technical Interview", MONDAY, MONDAY + WEEK)
    assert slot not in remaining and len(remaining) > 10


def test_bookings_survive_reloading_the_seed(ats, demo_seed):
    booking = ats.book_interview(_app(ats, "c1").id, ats.free_slots("j1", "Technical Interview", MONDAY,
                                                                      MONDAY + WEEK)[0], candidate_timezone="UTC")
    ats.load_seed(demo_seed)
    assert ats.get_booking(booking.id) == booking


# --- seed checks -------------------------------------------------------------------------------

@pytest.mark.parametrize(("old", "new", "error"), [
    ("duration_minutes: 60", "duration_minutes: 50", "duration_minutes: a positive multiple of 15"),
    ("interviewers: [i-alex, i-sam]", "interviewers: [i-alex, i-nobody]", "unknown interviewer 'i-nobody'"),
    ("format: video\n          duration_minutes: 60", "format: zoom\n          duration_minutes: 60",
     "format: must be one of phone, video, onsite"),
    ("          video_link: https://meet.acme.example/ml-technical\n", "", "video_link: required"),
    ('mon: ["10:00-16:00"]', 'mon: ["16:00-10:00"]', "the range ends before it starts"),
    ('mon: ["10:00-16:00"]', 'mon: ["10:10-16:00"]', "times must fall on the quarter hour"),
    ('mon: ["10:00-16:00"]', 'monday: ["10:00-16:00"], funday: ["10:00-11:00"]', "not a weekday"),
])
def test_seed_errors_say_where_and_why(old, new, error):
    text = Path(demo_seed_path()).read_text()
    assert old in text
    with pytest.raises(SeedError, match=error):
        parse_seed(text.replace(old, new, 1))


# --- what to offer and what to say -------------------------------------------------------------

def test_offers_spread_over_days_and_honour_preferences(ats):
    free = ats.free_slots("j1", "Technical Interview", MONDAY, MONDAY + WEEK)
    now = MONDAY.astimezone(UTC)
    default = offer_slots(free, TimePreference(), "America/New_York", now, 5)
    assert len(default.slots) == 5 and len({s.astimezone(NY).date() for s in default.slots}) >= 4
    thursday_pm = TimePreference(date=dt.date(2026, 11, 26), hours=(12, 17))
    offer = offer_slots(free, thursday_pm, "America/New_York", now, 5)
    assert offer.fits_preference
    assert {s.astimezone(NY).strftime("%a %H:%M") for s in offer.slots} == {"Thu 14:00", "Thu 14:30", "Thu 15:00"}
    # Nothing fits Saturday: the nearest times are offered instead, and the reply says so.
    saturday = TimePreference(date=dt.date(2026, 11, 28), time=dt.time(10))
    fallback = offer_slots(free, saturday, "America/New_York", now, 3)
    assert not fallback.fits_preference and len(fallback.slots) == 3
    application = _app(ats, "c1")
    plan = application.job.stage_named(application.stage).interview
    text = offer_reply(application, plan, fallback, "America/New_York", saturday, rescheduling=False).text
    assert text.startswith("Sorry, nothing is free on Saturday Nov 28 at 10:00 AM.")
    assert "60-minute video call" in text and "US Eastern time" in text


def test_spread_alternates_mornings_and_afternoons():
    day = [dt.datetime(2026, 11, 23, h, tzinfo=NY).astimezone(UTC) for h in (10, 11, 14, 15)]
    assert [s.astimezone(NY).hour for s in spread(day, 2, "America/New_York")] == [10, 15]


def test_candidates_with_several_bookable_interviews_are_asked_which(ats):
    priya = ats.get_candidate("c1")
    application = _app(ats, "c1")
    second = type(application)(**{**application.__dict__, "id": "c1-j2", "job": ats.get_job("j2"),
                                  "stage": "Recruiter Screen"})
    context = SchedulingContext(priya, ats.company(), (application, second), ())
    choice = choose_application(context, role=None, message="book my interview")
    assert choice.application is None and len(choice.reply.buttons) == 2
    assert choose_application(context, role="data eng", message=None).application == second
    assert choose_application(context, None, "schedule my machine learning engineer interview").application \
        == application


def test_confirmation_reminder_and_invite(ats):
    slot = ats.free_slots("j1", "Technical Interview", MONDAY, MONDAY + WEEK)[0]
    booking = ats.book_interview(_app(ats, "c1").id, slot, candidate_timezone="America/New_York")
    link = invite_url("https://candidates.acme.example", booking)
    main, prep = confirmation_replies(booking, link, "Practise explaining a project.", moved=False)
    assert "Technical Interview for Machine Learning Engineer to Mon Nov 23, 10:00 AM EST (60 min, video call)" \
        in main.text
    assert "Alex Kim (Machine Learning Engineer) and Sam Ortiz" in main.text
    assert "https://meet.acme.example/ml-technical" in main.text and link in main.text
    assert prep.text == "To prepare: Practise explaining a project."
    assert "is tomorrow, Mon Nov 23, 10:00 AM EST" in reminder_text(booking, dt.timedelta(hours=24))
    assert "in about an hour" in reminder_text(booking, dt.timedelta(hours=1))

    calendar = Calendar.from_ical(interview_invite(booking, ats.company()))
    event = next(iter(calendar.walk("VEVENT")))
    assert event.decoded("dtstart") == slot and event.decoded("dtend") == slot + dt.timedelta(hours=1)
    assert str(event["summary"]) == "Technical Interview: Machine Learning Engineer at Acme Robotics"
    assert str(event["location"]) == "https://meet.acme.example/ml-technical"
    assert str(calendar["method"]) == "PUBLISH" and int(event["sequence"]) == 0
    assert len(event.walk("VALARM")) == 2

    moved = ats.reschedule_interview(booking.id, ats.free_slots("j1", "Technical Interview", MONDAY,
                                                                  MONDAY + WEEK)[3])
    moved_event = next(iter(Calendar.from_ical(interview_invite(moved, ats.company())).walk("VEVENT")))
    assert str(moved_event["uid"]) == str(event["uid"]) and int(moved_event["sequence"]) == 1
    cancelled = Calendar.from_ical(interview_invite(ats.cancel_interview(moved.id), ats.company()))
    assert str(cancelled["method"]) == "CANCEL"
    assert str(next(iter(cancelled.walk("VEVENT")))["status"]) == "CANCELLED"


def test_onsite_and_phone_details(ats):
    monday = MONDAY
    screen = ats.free_slots("j2", "Recruiter Screen", monday, monday + WEEK)[0]
    james = next(a for a in ats.applications_for("c2") if a.stage == "Recruiter Screen")
    booking = ats.book_interview(james.id, screen, candidate_timezone="America/New_York")
    text = confirmation_replies(booking, "https://x/y.ics", None, moved=False)[0].text
    assert "(30 min, phone call)" in text and "We'll call you on the phone number on your application." in text
    assert booking.format == "phone"
