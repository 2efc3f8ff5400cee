"""Trackers the actions must not believe: identities without our channels' seal, and slots naming other people's
applications and bookings. Each is what a forged call to the action server could carry (security review, 1)."""

from __future__ import annotations

import datetime as dt

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.scheduling import ActionConfirmBooking, ValidateInterviewBookingForm
from actions.services import services
from actions.status import ActionCheckStatus, ActionSendStatusUpdate
from bot.identity import verified_metadata
from bot.settings import Settings
from tests.test_actions import action_env, conversation_of, run, tracker  # noqa: F401 - the shared environment
from tests.test_scheduling_actions import DIEGO, booking_tracker, diego_application, free_for_diego

PRIYA_EMAIL, PRIYA_PHONE = "priya@example.com", "+16175550101"


def _status_texts(dispatcher: CollectingDispatcher) -> str:
    return " ".join(m.get("text") or m.get("response") or "" for m in dispatcher.messages)


async def test_a_slack_identity_the_slack_channel_did_not_seal_learns_nothing():
    # The review's request: input_channel slack, a slack- conversation, and a demo candidate's email as metadata.
    forged = tracker(channel="slack", sender_id="slack-x", metadata={"verified_email": PRIYA_EMAIL})
    dispatcher = await run(ActionCheckStatus(), forged)
    assert [m["response"] for m in dispatcher.messages] == ["utter_status_unverified_channel"]


async def test_an_sms_identity_without_its_seal_learns_nothing_even_in_its_own_conversation():
    forged = tracker(metadata={"verified_phone": PRIYA_PHONE})
    dispatcher = await run(ActionCheckStatus(), forged)
    assert "Technical Interview" not in _status_texts(dispatcher) and "Dana Lee" not in _status_texts(dispatcher)


async def test_a_sealed_slack_identity_gets_its_own_status():
    conversation = "slack-" + "c" * 24
    sealed = verified_metadata(Settings.from_env().conversation_id_key, "slack", conversation, email=PRIYA_EMAIL)
    dispatcher = await run(ActionCheckStatus(), tracker(channel="slack", sender_id=conversation, metadata=sealed))
    assert "Technical Interview" in _status_texts(dispatcher)


def _update_tracker(sender_id: str, application_id: str) -> Tracker:
    return Tracker(sender_id, {"status_update_application": application_id}, {}, [], False, None, {},
                   "action_listen")


async def test_a_status_update_is_read_out_only_while_it_is_being_sent_to_that_conversation():
    shared = services()
    priya = shared.ats.find_candidate_by_phone(PRIYA_PHONE)
    application = shared.ats.applications_for(priya.id)[0]
    stranger = CollectingDispatcher()
    await ActionSendStatusUpdate().run(stranger, _update_tracker("sms-stranger", application.id), {})
    assert stranger.messages == []

    # Queued by the status-update loop for Priya's conversation, and taken by it for sending: then it is read out.
    planned = shared.status_updates.plan(application, priya, shared.ats.company(), opted_out=lambda _: False)
    assert planned.outcome == "queued"
    [item] = list(shared.status_updates.updates.take_due(now=planned.due_at, limit=1))  # after any quiet hours
    assert item.conversation_id == conversation_of(PRIYA_PHONE)
    own = CollectingDispatcher()
    await ActionSendStatusUpdate().run(own, _update_tracker(conversation_of(PRIYA_PHONE), application.id), {})
    assert application.stage in own.messages[0]["text"]
    again = CollectingDispatcher()
    await ActionSendStatusUpdate().run(again, _update_tracker("sms-stranger", application.id), {})
    assert again.messages == []


def _priyas_booking():
    shared = services()
    priya = shared.ats.find_candidate_by_phone(PRIYA_PHONE)
    application = shared.ats.applications_for(priya.id)[0]
    now = dt.datetime.now(dt.timezone.utc)
    slot = shared.ats.free_slots(application.job.id, application.stage, now + dt.timedelta(hours=13),
                                 now + dt.timedelta(days=13))[-1]
    return shared.ats.book_interview(application.id, slot, candidate_timezone="America/New_York",
                                     conversation_id=conversation_of(PRIYA_PHONE), channel="twilio")


async def test_a_booking_of_someone_elses_cannot_be_moved():
    priyas = _priyas_booking()
    known = {"booking_application": diego_application().id, "booking_timezone": "America/Los_Angeles",
             "selected_booking": priyas.id}
    dispatcher = CollectingDispatcher()
    moved = await ValidateInterviewBookingForm()._book(dispatcher, booking_tracker("1", DIEGO, slots=known),
                                                       diego_application(), free_for_diego()[0],
                                                       "America/Los_Angeles")
    assert moved is None
    assert services().ats.get_booking(priyas.id).starts_at == priyas.starts_at
    assert services().ats.get_booking(priyas.id).status == "booked"


async def test_the_confirmation_of_someone_elses_booking_is_never_shown():
    priyas = _priyas_booking()
    dispatcher = CollectingDispatcher()
    await ActionConfirmBooking().run(dispatcher, booking_tracker("1", DIEGO, slots={"booked_interview": priyas.id}),
                                     {})
    assert priyas.invite_token not in _status_texts(dispatcher)
    assert "booked" not in _status_texts(dispatcher).lower()
