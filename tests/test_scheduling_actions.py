"""Booking actions and the booking form's validation, with rasa-sdk's Tracker on a real SQLite ATS."""

from __future__ import annotations

import datetime as dt

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.scheduling import (
    ActionAskBookingSlot,
    ActionSendInterviewReminder,
    ActionStartBooking,
    ActionStartCancellation,
    ValidateInterviewBookingForm,
)
from actions.services import services
from bot.when import format_slot
from tests.test_actions import action_env, conversation_of, sealed  # noqa: F401 - the shared environment fixture

DIEGO, LENA, AISHA = "+13105550110", "+4915112345678", "+447911123456"
FORM_DOMAIN = {"forms": {"interview_booking_form": {"required_slots": ["booking_timezone", "booking_slot"]}}}


def booking_tracker(text: str, phone: str | None = DIEGO, intent: str = "inform_time", slots: dict | None = None,
                    new_slots: dict | None = None, sender_id: str | None = None) -> Tracker:
    sender_id = sender_id or conversation_of(phone)
    metadata = sealed(phone, sender_id)
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": [], "metadata": metadata}
    events = [{"event": "user", "text": text, "parse_data": latest, "input_channel": "twilio", "metadata": metadata}]
    events += [{"event": "slot", "name": name, "value": value} for name, value in (new_slots or {}).items()]
    return Tracker(sender_id, {**(slots or {}), **(new_slots or {})}, latest, events, False, None,
                   {"name": "interview_booking_form"}, "action_listen")


def slots_of(events: list[dict]) -> dict:
    return {event["name"]: event["value"] for event in events if event["event"] == "slot"}


async def start(text: str, phone: str | None):
    dispatcher = CollectingDispatcher()
    events = await ActionStartBooking().run(dispatcher, booking_tracker(text, phone, "book_interview"), {})
    return slots_of(events), dispatcher.messages


def diego_application():
    return next(a for a in services().ats.applications_for("c10"))


def free_for_diego() -> list[dt.datetime]:
    now = dt.datetime.now(dt.timezone.utc)
    return services().ats.free_slots("j1", "Technical Interview", now + dt.timedelta(hours=13),
                                     now + dt.timedelta(days=13))


async def test_start_proposes_the_phone_numbers_time_zone_and_keeps_the_preference():
    slots, messages = await start("book me for thursday afternoon", DIEGO)
    assert slots["booking_ready"] is True and messages == []
    assert slots["booking_application"] == diego_application().id
    assert (slots["booking_timezone"], slots["proposed_timezone"]) == (None, "America/Los_Angeles")
    assert slots["time_preference"] == "book me for thursday afternoon"
    assert (await start("can I book my interview", LENA))[0]["proposed_timezone"] == "Europe/Berlin"


@pytest.mark.parametrize(("phone", "expected"), [
    (None, "utter_booking_unverified"),  # no verified number: nothing is looked up
    ("+12025550143", "utter_status_unknown_sender"),
])
async def test_start_refuses_unverified_and_unknown_senders(phone, expected):
    slots, messages = await start("book my interview", phone)
    assert slots == {"booking_ready": False}
    assert [m.get("response") for m in messages] == [expected]


async def test_start_explains_when_there_is_nothing_to_book():
    slots, messages = await start("book my interview", AISHA)  # at the Offer stage
    assert slots == {"booking_ready": False}
    assert "None of your applications is at a step with an interview to book" in messages[0]["text"]


async def test_time_zone_answers():
    validate = ValidateInterviewBookingForm().validate_booking_timezone
    proposed = {"proposed_timezone": "America/Los_Angeles"}
    yes = await validate("yes", CollectingDispatcher(), booking_tracker("yes", intent="affirm", slots=proposed), {})
    assert yes == {"booking_timezone": "America/Los_Angeles", "candidate_timezone": "America/Los_Angeles",
                   "proposed_timezone": None}
    no = await validate("no", CollectingDispatcher(), booking_tracker("no", intent="deny", slots=proposed), {})
    assert no == {"booking_timezone": None, "proposed_timezone": None}
    chicago = await validate("I'm in Chicago", CollectingDispatcher(), booking_tracker("I'm in Chicago"), {})
    assert chicago["booking_timezone"] == "America/Chicago"
    dispatcher = CollectingDispatcher()
    assert await validate("on the moon", dispatcher, booking_tracker("on the moon"), {}) == {"booking_timezone": None}
    assert "I don't recognise that time zone" in dispatcher.messages[0]["text"]


async def test_the_form_books_an_exact_pick_and_queues_reminders():
    slot = free_for_diego()[3]
    words = format_slot(slot, "America/Los_Angeles", with_zone=False)
    known = {"booking_application": diego_application().id, "booking_timezone": "America/Los_Angeles"}
    events = await ValidateInterviewBookingForm().run(
        CollectingDispatcher(), booking_tracker(words, slots=known, new_slots={"booking_slot": words}), FORM_DOMAIN)
    booked = slots_of(events)
    booking = services().ats.get_booking(booked["booked_interview"])
    assert (booking.starts_at, booking.conversation_id, booking.channel) == (slot, conversation_of(DIEGO), "twilio")
    assert len(services().reminders.pending_for(booking.id)) == 2


async def test_a_pick_processed_again_after_its_server_died_confirms_the_booking_it_made():
    slot = free_for_diego()[2]
    known = {"booking_application": diego_application().id, "booking_timezone": "America/Los_Angeles"}
    first = await ValidateInterviewBookingForm()._book(CollectingDispatcher(), booking_tracker("1", slots=known),
                                                       diego_application(), slot, "America/Los_Angeles")
    # The server that booked it died before answering; the candidate's "1" comes again and, the slot being
    # taken now, names another free time: the booking already made is the answer, not a refusal.
    dispatcher = CollectingDispatcher()
    again = await ValidateInterviewBookingForm()._book(dispatcher, booking_tracker("1", slots=known),
                                                       diego_application(), free_for_diego()[0], "America/Los_Angeles")
    assert again == first and dispatcher.messages == []
    assert [b.id for b in services().ats.bookings_for("c10")] == [first.id]
    assert len(services().reminders.pending_for(first.id)) == 2  # not queued twice


async def test_a_time_in_words_that_is_not_free_becomes_a_preference_and_nonsense_is_asked_again():
    known = {"booking_application": diego_application().id, "booking_timezone": "America/Los_Angeles"}
    validate = ValidateInterviewBookingForm().validate_booking_slot
    result = await validate("thursday afternoon", CollectingDispatcher(), booking_tracker("thursday afternoon",
                                                                                          slots=known), {})
    assert result == {"booking_slot": None, "time_preference": "thursday afternoon"}
    dispatcher = CollectingDispatcher()
    assert await validate("purple", dispatcher, booking_tracker("purple", slots=known), {}) == {"booking_slot": None}
    assert "I didn't catch a day or time" in dispatcher.messages[0]["text"]


async def test_a_slot_taken_meanwhile_is_refused_and_other_times_offered():
    slot = free_for_diego()[0]
    priya = services().ats.applications_for("c1")[0]
    services().ats.book_interview(priya.id, slot, candidate_timezone="America/New_York")
    words = format_slot(slot, "America/Los_Angeles", with_zone=False)
    known = {"booking_application": diego_application().id, "booking_timezone": "America/Los_Angeles"}
    dispatcher = CollectingDispatcher()
    result = await ValidateInterviewBookingForm().validate_booking_slot(words, dispatcher,
                                                                        booking_tracker(words, slots=known), {})
    # The slot was no longer free when understood, so the nearest open times are offered instead.
    assert result["booking_slot"] is None
    offer = CollectingDispatcher()
    await ActionAskBookingSlot().run(offer, booking_tracker(words, slots={**known, **result}), {})
    titles = [b["title"] for b in offer.messages[0]["buttons"]]
    assert titles and format_slot(slot, "America/Los_Angeles") not in titles
    # Taken between understanding and booking (the race): the candidate hears so, and nothing is booked.
    lost = CollectingDispatcher()
    assert await ValidateInterviewBookingForm()._book(lost, booking_tracker(words, slots=known),
                                                      diego_application(), slot, "America/Los_Angeles") is None
    assert "was just taken by someone else" in lost.messages[0]["text"]
    assert services().ats.bookings_for("c10") == []


async def test_cancellation_needs_a_booking():
    dispatcher = CollectingDispatcher()
    events = await ActionStartCancellation().run(dispatcher, booking_tracker("cancel my interview",
                                                                             intent="cancel_interview"), {})
    assert slots_of(events) == {"cancellation_ready": False}
    assert "can't find an upcoming interview" in dispatcher.messages[0]["text"]


async def test_reminders_go_only_to_the_conversation_that_booked():
    slot = free_for_diego()[1]
    booking = services().ats.book_interview(diego_application().id, slot, candidate_timezone="America/Los_Angeles",
                                            conversation_id=conversation_of(DIEGO), channel="twilio")
    reminder = {"reminder_booking": booking.id, "reminder_lead_minutes": 60.0}
    own, other = CollectingDispatcher(), CollectingDispatcher()
    await ActionSendInterviewReminder().run(own, booking_tracker("", slots=reminder), {})
    await ActionSendInterviewReminder().run(other, booking_tracker("", slots=reminder, sender_id="sms-someone"), {})
    assert own.messages[0]["text"].startswith("Reminder: your Technical Interview for Machine Learning Engineer "
                                              "is in about an hour")
    assert other.messages == []
    services().ats.cancel_interview(booking.id)
    cancelled = CollectingDispatcher()
    await ActionSendInterviewReminder().run(cancelled, booking_tracker("", slots=reminder), {})
    assert cancelled.messages == []
