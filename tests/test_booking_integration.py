"""End to end over signed SMS: book, get the invite, be reminded, move, cancel, race for a slot.

Real Rasa and action servers (tests/conftest.py), the real embedded ATS file they use, and the fake
Twilio REST API receiving the reminders the server sends on its own.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from icalendar import Calendar

from bot.ats.embedded import EmbeddedATS
from bot.when import format_slot

pytestmark = pytest.mark.integration

DIEGO = "+13105550110"  # Los Angeles number, no time zone on file, Technical Interview (j1)
LENA = "+4915112345678"  # Berlin mobile, Technical Interview (j5)
PRIYA = "+16175550101"  # Boston number, Technical Interview (j1): Diego's rival for a slot
NORA = "+16175550107"  # no applications
JAMES = "+16175550102"  # Recruiter Screen (j2, phone) and Application Review (j5)
UTC = dt.timezone.utc


def _ats(stack) -> EmbeddedATS:
    return EmbeddedATS(stack.workdir / "ats.db", create=False)


def _free(stack, job: str = "j1", stage: str = "Technical Interview") -> list[dt.datetime]:
    now = dt.datetime.now(UTC)
    return _ats(stack).free_slots(job, stage, now + dt.timedelta(hours=13), now + dt.timedelta(days=13))


def _choices(text: str) -> list[str]:
    return re.findall(r"^\d+ - (.+)$", text, flags=re.MULTILINE)


def _bookings(stack, candidate_id: str):
    return _ats(stack).bookings_for(candidate_id)


def test_booking_from_first_message_to_confirmation_invite_and_reminder(stack, twilio_api):
    question = stack.text(DIEGO, "can I schedule my interview")
    assert question.text.startswith("Before I show you times: I'll use US Pacific time (P")
    assert "going by your phone number" in question.text
    offer = stack.text(DIEGO, "yes")
    assert "To book your Technical Interview for Machine Learning Engineer (60-minute video call)" in offer.text
    assert "in US Pacific time" in offer.text
    offered = _choices(offer.text)
    assert 3 <= len(offered) <= 5 and all(re.search(r"(AM|PM) P[SD]T$", o) for o in offered)

    # The last offer is days away (offers are spread over the booking horizon), so both reminders apply.
    confirmation = stack.text(DIEGO, str(len(offered)))
    booking, = _bookings(stack, "c10")
    assert booking.starts_at - dt.datetime.now(UTC) > dt.timedelta(hours=25)
    assert format_slot(booking.starts_at, "America/Los_Angeles") == offered[-1]
    assert f"You're booked! I've scheduled your Technical Interview for Machine Learning Engineer to {offered[-1]}" \
        in confirmation.text
    assert "You'll meet Alex Kim (Machine Learning Engineer) and Sam Ortiz" in confirmation.text
    assert "https://meet.acme.example/ml-technical" in confirmation.text
    assert "To prepare:" in confirmation.text  # the technical-interview entry of the knowledge base

    link = re.search(r"https://candidates\.acme\.example(/webhooks/calendar/invite/\S+\.ics)", confirmation.text)
    invite = requests.get(stack.stack.rasa_url + link.group(1), timeout=10)
    assert invite.status_code == 200 and invite.headers["Content-Type"].startswith("text/calendar")
    event = next(iter(Calendar.from_ical(invite.content).walk("VEVENT")))
    assert event.decoded("dtstart") == booking.starts_at
    assert requests.get(stack.stack.rasa_url + "/webhooks/calendar/invite/not-a-token.ics", timeout=10) \
        .status_code == 404

    # The day-before reminder: made due now, sent by the server on its own through Twilio's REST API.
    earlier = len(twilio_api.sent_to(DIEGO))  # texts other tests sent Diego on this session's stack
    with sqlite3.connect(stack.workdir / "state.db") as db:
        leads = db.execute("SELECT lead_minutes FROM interview_reminders WHERE booking_id = ? ORDER BY 1",
                           (booking.id,)).fetchall()
        assert leads == [(60,), (1440,)]
        db.execute("UPDATE interview_reminders SET next_attempt_at = ? WHERE booking_id = ? AND lead_minutes = 1440",
                   (dt.datetime.now(UTC).replace(tzinfo=None).isoformat(" "), booking.id))
    *_, reminder = twilio_api.wait_for(DIEGO, earlier + 1)
    assert reminder.startswith("Reminder: your Technical Interview for Machine Learning Engineer is tomorrow, "
                               f"{offered[-1]}")
    bot_texts = [e.get("text") for e in stack.tracker_events(DIEGO) if e["event"] == "bot"]
    assert bot_texts[-1] == reminder  # recorded in the conversation too

    # Already booked: asking again offers to move or cancel instead of a second booking.
    again = stack.text(DIEGO, "book my interview")
    assert "You're already booked" in again.text and "1 - Move it" in again.text


def test_moving_and_cancelling_free_the_old_time(stack, twilio_api):
    if not _bookings(stack, "c10"):
        stack.text(DIEGO, "can I schedule my interview")
        stack.text(DIEGO, "yes")
        stack.text(DIEGO, "1")
    booking, = _bookings(stack, "c10")
    offer = stack.text(DIEGO, "something came up, can we move my interview?")
    assert "To move your Technical Interview" in offer.text
    offered = _choices(offer.text)
    choice = next(i for i, text in enumerate(offered, start=1) if text != format_slot(booking.starts_at,
                                                                                     "America/Los_Angeles"))
    moved_reply = stack.text(DIEGO, str(choice))
    assert f"Done, I've moved your Technical Interview for Machine Learning Engineer to {offered[choice - 1]}" \
        in moved_reply.text
    moved, = _bookings(stack, "c10")
    assert moved.invite_token == booking.invite_token and moved.sequence == booking.sequence + 1
    assert booking.starts_at in _free(stack) or booking.starts_at - dt.datetime.now(UTC) < dt.timedelta(hours=13)

    question = stack.text(DIEGO, "i need to cancel my interview")
    assert f"cancel your Technical Interview for Machine Learning Engineer on {offered[choice - 1]}?" in question.text
    done = stack.text(DIEGO, "yes")
    assert "is cancelled" in done.text
    assert _bookings(stack, "c10") == []
    assert moved.starts_at in _free(stack)
    with sqlite3.connect(stack.workdir / "state.db") as db:
        pending = db.execute("SELECT count(*) FROM interview_reminders WHERE booking_id IN (?, ?) AND status = "
                             "'pending'", (booking.id, moved.id)).fetchone()[0]
    assert pending == 0
    nothing = stack.text(DIEGO, "cancel my interview")
    assert "can't find an upcoming interview booked for you" in nothing.text


def test_a_preference_in_words_and_a_question_mid_booking(stack):
    offer = stack.text(LENA, "can i book my interview for thursday afternoon?")
    assert offer.text.startswith("Before I show you times") and "Central European time (CET)" in offer.text  # +49
    listing = stack.text(LENA, "yes")
    times = _choices(listing.text)
    assert times and all("Thu" in t and t.endswith("CET") for t in times) or "nothing is free" in listing.text
    salary = stack.text(LENA, "wait, what's the salary for this role?")
    assert "$160,000" in salary.text and "Reply with a number" in salary.text  # answered, then asked again
    stopped = stack.text(LENA, "never mind")
    assert "nothing has changed" in stopped.text
    assert _bookings(stack, "c9") == []


def test_exact_time_in_words_books_it_and_a_taken_time_offers_the_nearest(stack):
    free = _free(stack, "j2", "Recruiter Screen")
    wanted = free[2]
    stack.text(JAMES, "I'd like to schedule my recruiter screen")
    stack.text(JAMES, "yes")
    words = format_slot(wanted, "America/New_York", with_zone=False)
    booked = stack.text(JAMES, words.replace(",", ""))
    assert "You're booked!" in booked.text and "(30 min, phone call)" in booked.text
    assert [b.starts_at for b in _bookings(stack, "c2")] == [wanted]


def test_two_candidates_racing_for_one_slot_one_wins_the_other_gets_other_times(stack):
    for phone in (PRIYA, DIEGO):
        stack.text(phone, "can I schedule my interview")
        stack.text(phone, "yes")
    slot = _free(stack)[0]
    picks = {PRIYA: format_slot(slot, "America/New_York", with_zone=False),
             DIEGO: format_slot(slot, "America/Los_Angeles", with_zone=False)}
    with ThreadPoolExecutor(2) as pool:
        replies = dict(zip(picks, pool.map(lambda item: stack.text(*item).text, picks.items()), strict=True))
    winners = [phone for phone, text in replies.items() if "You're booked!" in text]
    losers = [phone for phone in replies if phone not in winners]
    assert len(winners) == 1, replies
    # The loser is offered other times: "was just taken" when both were understood before either booked,
    # "nothing is free at ..." with the nearest times when the winner had already booked.
    loser = replies[losers[0]]
    assert ("was just taken by someone else" in loser or "nothing is free" in loser) and _choices(loser)
    loser_zone = {PRIYA: "America/New_York", DIEGO: "America/Los_Angeles"}[losers[0]]
    assert format_slot(slot, loser_zone) not in _choices(loser)
    assert [b.starts_at for c in ("c1", "c10") for b in _bookings(stack, c)] == [slot]


@pytest.mark.parametrize(("phone", "expected"), [
    (NORA, "None of your applications is at a step with an interview to book"),
    ("+12025550143", "can't find an application linked to this number"),
])
def test_candidates_who_cannot_book_are_told_why(stack, phone, expected):
    assert expected in stack.text(phone, "can I schedule my interview").text


def test_the_rest_channel_proves_no_identity_so_nothing_is_booked(stack):
    reply = requests.post(f"{stack.stack.rasa_url}/webhooks/rest/webhook",
                          json={"sender": "web-visitor", "message": "book my interview"}, timeout=30)
    assert "once I know it's you" in " ".join(m.get("text", "") for m in reply.json())


def test_reminders_wait_through_a_twilio_outage_and_go_out_once(stack, twilio_api):
    with sqlite3.connect(stack.workdir / "state.db") as db:
        db.execute("INSERT INTO sms_outbox (conversation_id, phone, body, status, due_at, give_up_at, "
                   "next_attempt_at, attempts, created_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, 0, ?)",
                   ("sms-outage", "+16175550177", "queued during an outage", *[
                       (dt.datetime.now(UTC) + dt.timedelta(hours=h)).replace(tzinfo=None).isoformat(" ")
                       for h in (0, 1, 0, 0)]))
    twilio_api.fail_next(2)
    assert twilio_api.wait_for("+16175550177", timeout=30) == ["queued during an outage"]
    time.sleep(1)
    assert twilio_api.sent_to("+16175550177") == ["queued during an outage"]  # exactly once
