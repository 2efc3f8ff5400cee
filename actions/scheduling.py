"""Booking, moving and cancelling interviews, and the reminders before them.

The start actions decide whether a form may begin (the *_ready slots steer the rules); the forms
ask for the time zone, the time, and a yes before cancelling. Every step re-reads the verified
sender and the ATS, so nothing a candidate types can point a form at someone else's interview.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.handoff import TooManyHandoffs, open_handoff, route_if_sensitive, taking_over
from actions.services import remember_contact, send, sender_of, services
from bot.ats import ATSUnavailable, call_ats
from bot.ats.base import AlreadyBooked, Application, ATSError, Booking, SlotTaken
from bot.clock import now_utc
from bot.handoff_cards import opened_notice
from bot.identity import VerifiedSender
from bot.invite import invite_url
from bot.rate_limits import TOO_MANY_HANDOFFS_REPLY
from bot.replies import Button, Reply
from bot.scheduling import (
    SchedulingContext,
    application_by_id,
    booked_for,
    cancellation_question,
    cancelled_reply,
    choose_application,
    choose_booking,
    confirmation_replies,
    free_times,
    load_scheduling_context,
    offer_reply,
    offer_slots,
    own_booking,
    prep_for_stage,
    reminder_text,
    understand_pick,
)
from bot.when import (
    describe_timezone,
    format_slot,
    timezone_from_phone,
    understand_time,
    understand_timezone,
    zone_abbreviation,
)

logger = logging.getLogger(__name__)
NO_LONGER_BOOKABLE = Reply("That interview can't be booked any more; it may have changed in the meantime. Ask me "
                           "\"where's my application?\" to see where things stand.")
NOT_READY = [SlotSet("booking_ready", False)]


def _text(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def _intent(tracker: Tracker) -> str | None:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def _mentions_time(text: str) -> bool:
    return not understand_time(text, dt.datetime.now()).is_empty


async def _context(dispatcher: CollectingDispatcher, tracker: Tracker,
                   ) -> tuple[VerifiedSender, SchedulingContext] | None:
    """The verified candidate's scheduling context; on any failure the candidate has been told why."""
    sender = sender_of(tracker)
    if sender is None:
        dispatcher.utter_message(response="utter_booking_unverified")
        return None
    shared = services()
    try:
        context = await call_ats(load_scheduling_context, shared.ats, sender, now_utc(),
                                 timeout=shared.settings.ats_timeout_seconds)
    except ATSUnavailable as error:
        logger.warning("scheduling for %s: ATS unavailable (%s)", tracker.sender_id, error)
        dispatcher.utter_message(response="utter_scheduling_unavailable")
        return None
    if context is None:
        dispatcher.utter_message(response="utter_status_unknown_sender")
        return None
    remember_contact(tracker, context.candidate.id)
    return sender, context


async def _booked_for(application: Application) -> Booking | None:
    shared = services()
    try:
        bookings = await call_ats(shared.ats.bookings_for, application.candidate_id,
                                  timeout=shared.settings.ats_timeout_seconds)
    except ATSUnavailable:
        return None
    return booked_for(bookings, application.id)


async def _free(application, tracker: Tracker) -> list[dt.datetime]:
    shared = services()
    return await call_ats(free_times, shared.ats, application, shared.scheduling_rules, now_utc(),
                          timeout=shared.settings.ats_timeout_seconds)


class ActionStartBooking(Action):
    def name(self) -> str:
        return "action_start_booking"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        routed = await route_if_sensitive(dispatcher, tracker)
        if routed is not None:
            return [*routed, *NOT_READY]
        found = await _context(dispatcher, tracker)
        if found is None:
            return NOT_READY
        sender, context = found
        choice = choose_application(context, next(tracker.get_latest_entity_values("role"), None), _text(tracker))
        if choice.reply is not None:
            send(dispatcher, [choice.reply])
            return NOT_READY
        application = choice.application
        try:
            free = await _free(application, tracker)
        except ATSUnavailable:
            dispatcher.utter_message(response="utter_scheduling_unavailable")
            return NOT_READY
        if not free:
            send(dispatcher, [Reply(f"I'm sorry, there are no open times for your {application.stage} in the next "
                                    "two weeks.")])
            try:
                opened = await open_handoff(tracker, "no_interview_slots", context, application.id)
            except TooManyHandoffs:
                dispatcher.utter_message(text=TOO_MANY_HANDOFFS_REPLY)
                return NOT_READY
            if opened is not None and opened[0].takes_over:
                dispatcher.utter_message(text=opened_notice("no_interview_slots", opened[2], not opened[1]))
                return [*taking_over(tracker), *NOT_READY]
            send(dispatcher, [Reply("I've asked the recruiting team to find a time with you, and a recruiter will "
                                    "be in touch.")])
            return NOT_READY
        zone = context.candidate.timezone or tracker.get_slot("candidate_timezone")
        return [
            SlotSet("booking_ready", True), SlotSet("booking_application", application.id),
            SlotSet("selected_booking", None), SlotSet("booked_interview", None), SlotSet("booking_slot", None),
            SlotSet("booking_timezone", zone),
            SlotSet("proposed_timezone", None if zone else timezone_from_phone(sender.phone)),
            SlotSet("time_preference", _text(tracker) if _mentions_time(_text(tracker)) else None),
        ]


class ActionStartRescheduling(Action):
    def name(self) -> str:
        return "action_start_rescheduling"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        found = await _context(dispatcher, tracker)
        if found is None:
            return NOT_READY
        choice = choose_booking(found[1], next(tracker.get_latest_entity_values("role"), None), _text(tracker), "move")
        if choice.reply is not None:
            send(dispatcher, [choice.reply])
            return NOT_READY
        booking = choice.booking
        return [
            SlotSet("booking_ready", True), SlotSet("booking_application", booking.application_id),
            SlotSet("selected_booking", booking.id), SlotSet("booked_interview", None), SlotSet("booking_slot", None),
            SlotSet("booking_timezone", booking.candidate_timezone), SlotSet("proposed_timezone", None),
            SlotSet("time_preference", _text(tracker) if _mentions_time(_text(tracker)) else None),
        ]


class ActionAskBookingTimezone(Action):
    def name(self) -> str:
        return "action_ask_booking_timezone"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        proposed = tracker.get_slot("proposed_timezone")
        if proposed:
            send(dispatcher, [Reply(
                f"Before I show you times: I'll use {describe_timezone(proposed)} "
                f"({zone_abbreviation(now_utc(), proposed)}), going by your phone number. Is that right? If not, "
                "tell me your time zone or city.", (Button("Yes", "/affirm"), Button("No", "/deny")))])
        else:
            send(dispatcher, [Reply("Which time zone should I show interview times in? Tell me your city or time "
                                    "zone, for example \"Eastern\", \"Pacific\", \"London\" or \"Berlin\".")])
        return []


class ActionAskBookingSlot(Action):
    def name(self) -> str:
        return "action_ask_booking_slot"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        found = await _context(dispatcher, tracker)
        if found is None:
            return []
        _, context = found
        application = application_by_id(context, tracker.get_slot("booking_application"))
        zone = tracker.get_slot("booking_timezone") or context.company.timezone
        if application is None:
            dispatcher.utter_message(response="utter_booking_stopped")
            return []
        try:
            free = await _free(application, tracker)
        except ATSUnavailable:
            dispatcher.utter_message(response="utter_scheduling_unavailable")
            return []
        now = now_utc()
        preference = understand_time(tracker.get_slot("time_preference") or "",
                                     now.astimezone(ZoneInfo(zone)).replace(tzinfo=None))
        offer = offer_slots(free, preference, zone, now, services().scheduling_rules.offer_count)
        plan = context.plan_for(application)
        send(dispatcher, [offer_reply(application, plan, offer, zone, preference,
                                      rescheduling=bool(tracker.get_slot("selected_booking")))])
        return []


class ValidateInterviewBookingForm(FormValidationAction):
    def name(self) -> str:
        return "validate_interview_booking_form"

    async def validate_booking_timezone(self, slot_value: Any, dispatcher: CollectingDispatcher,
                                        tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if slot_value is None:
            return {}  # cleared when the form started, nothing the candidate said
        proposed = tracker.get_slot("proposed_timezone")
        intent = _intent(tracker)
        zone = None
        if intent == "affirm" and proposed:
            zone = proposed
        elif intent == "deny" and proposed:
            return {"booking_timezone": None, "proposed_timezone": None}
        elif isinstance(slot_value, str):
            zone = understand_timezone(slot_value)
        if zone is None:
            send(dispatcher, [Reply("Sorry, I don't recognise that time zone. Tell me a city or zone, for example "
                                    "\"Eastern\", \"Pacific\", \"London\" or \"Europe/Berlin\".")])
            return {"booking_timezone": None}
        return {"booking_timezone": zone, "candidate_timezone": zone, "proposed_timezone": None}

    async def validate_booking_slot(self, slot_value: Any, dispatcher: CollectingDispatcher,
                                    tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if slot_value is None:
            return {}  # cleared when the form started, nothing the candidate said
        found = await _context(dispatcher, tracker)
        if found is None:
            return {"booking_slot": None}
        sender, context = found
        application = application_by_id(context, tracker.get_slot("booking_application"))
        zone = tracker.get_slot("booking_timezone") or context.company.timezone
        if application is None:
            return {"booking_slot": str(slot_value), "booked_interview": None}
        now = now_utc()
        try:
            free = await _free(application, tracker)
        except ATSUnavailable:
            dispatcher.utter_message(response="utter_scheduling_unavailable")
            return {"booking_slot": None}
        chosen, preference = understand_pick(str(slot_value), free, zone, now)
        if chosen is None:
            if preference.is_empty:
                send(dispatcher, [Reply("Sorry, I didn't catch a day or time there. Pick one of the times below, "
                                        "or tell me a day and time, like \"Thursday afternoon\" or \"Tue at 3pm\".")])
                return {"booking_slot": None}
            return {"booking_slot": None, "time_preference": str(slot_value)}
        booking = await self._book(dispatcher, tracker, application, chosen, zone)
        if booking is None:
            return {"booking_slot": None, "time_preference": None}
        return {"booking_slot": str(slot_value), "booked_interview": booking.id, "candidate_timezone": zone}

    async def _book(self, dispatcher: CollectingDispatcher, tracker: Tracker, application: Application,
                    chosen: dt.datetime, zone: str) -> Booking | None:
        shared = services()
        moving = tracker.get_slot("selected_booking")
        timeout = shared.settings.ats_timeout_seconds
        try:
            if moving and await _selected_booking(tracker) is None:  # only a booking of the candidate's own moves
                logger.warning("conversation %s: asked to move a booking that is not the candidate's",
                               tracker.sender_id)
                send(dispatcher, [NO_LONGER_BOOKABLE])
                return None
            if moving:
                booking = await call_ats(shared.ats.reschedule_interview, moving, chosen, timeout=timeout)
            else:
                booking = await call_ats(
                    lambda: shared.ats.book_interview(application.id, chosen, candidate_timezone=zone,
                                                      conversation_id=tracker.sender_id,
                                                      channel=tracker.get_latest_input_channel()),
                    timeout=timeout)
        except SlotTaken:
            send(dispatcher, [Reply(f"Sorry, {format_slot(chosen, zone)} was just taken by someone else. "
                                    "Here are the times still open.")])
            return None
        except ATSUnavailable:
            dispatcher.utter_message(response="utter_scheduling_unavailable")
            return None
        except AlreadyBooked:  # this pick was booked before: confirm that booking rather than refuse
            booked = await _booked_for(application)
            if booked is not None:
                return booked
            send(dispatcher, [NO_LONGER_BOOKABLE])
            return None
        except ATSError as error:
            logger.info("booking for %s refused: %s", tracker.sender_id, type(error).__name__)
            send(dispatcher, [NO_LONGER_BOOKABLE])
            return None
        if moving:
            shared.reminders.cancel_for(moving)
        shared.reminders.schedule(booking, shared.scheduling_rules.reminders)
        return booking


class ActionConfirmBooking(Action):
    def name(self) -> str:
        return "action_confirm_booking"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        shared = services()
        reset = [SlotSet("booking_slot", None), SlotSet("booking_timezone", None), SlotSet("time_preference", None),
                 SlotSet("selected_booking", None), SlotSet("booking_application", None)]
        booking_id = tracker.get_slot("booked_interview")
        if not booking_id:
            return reset
        found = await _context(dispatcher, tracker)
        if found is None:
            return reset
        try:
            booking = await call_ats(shared.ats.get_booking, booking_id, timeout=shared.settings.ats_timeout_seconds)
        except ATSUnavailable:
            booking = None
        # The confirmation (with its invite link) only for a booking of the verified candidate's own.
        if booking is not None and own_booking(found[1], booking.id) is None:
            logger.warning("conversation %s: asked to confirm a booking that is not the candidate's", tracker.sender_id)
            return reset
        if booking is None:
            send(dispatcher, [Reply("Your interview is booked. I couldn't load the details just now; ask me "
                                    "\"when is my interview?\" in a moment.")])
            return reset
        prep = prep_for_stage(shared.knowledge_base(), booking.stage)
        send(dispatcher, confirmation_replies(booking, invite_url(shared.settings.public_base_url, booking), prep,
                                              moved=bool(tracker.get_slot("selected_booking"))))
        return reset


class ActionStartCancellation(Action):
    def name(self) -> str:
        return "action_start_cancellation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        not_ready = [SlotSet("cancellation_ready", False)]
        found = await _context(dispatcher, tracker)
        if found is None:
            return not_ready
        choice = choose_booking(found[1], next(tracker.get_latest_entity_values("role"), None), _text(tracker),
                                "cancel")
        if choice.reply is not None:
            send(dispatcher, [choice.reply])
            return not_ready
        return [SlotSet("cancellation_ready", True), SlotSet("selected_booking", choice.booking.id),
                SlotSet("cancellation_confirmed", None)]


async def _selected_booking(tracker: Tracker) -> Booking | None:
    """The booking in the slot, only if it belongs to the verified sender."""
    sender = sender_of(tracker)
    booking_id = tracker.get_slot("selected_booking")
    if sender is None or not booking_id:
        return None
    shared = services()
    timeout = shared.settings.ats_timeout_seconds
    context = await call_ats(load_scheduling_context, shared.ats, sender, now_utc(), timeout=timeout)
    if context is None:
        return None
    return own_booking(context, booking_id)


class ActionAskCancellationConfirmed(Action):
    def name(self) -> str:
        return "action_ask_cancellation_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        try:
            booking = await _selected_booking(tracker)
        except ATSUnavailable:
            dispatcher.utter_message(response="utter_scheduling_unavailable")
            return []
        if booking is None:
            send(dispatcher, [Reply("I can't find that booking any more. Do you want to cancel an interview?")])
            return []
        send(dispatcher, [cancellation_question(booking)])
        return []


class ActionCancelInterview(Action):
    def name(self) -> str:
        return "action_cancel_interview"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        reset = [SlotSet("selected_booking", None), SlotSet("cancellation_confirmed", None)]
        shared = services()
        try:
            booking = await _selected_booking(tracker)
            if booking is None:
                send(dispatcher, [Reply("I can't find that booking any more, so nothing was cancelled.")])
                return reset
            if not tracker.get_slot("cancellation_confirmed"):
                send(dispatcher, [Reply(f"OK, I've kept it: your {booking.stage} is still on "
                                        f"{format_slot(booking.starts_at, booking.candidate_timezone)}.")])
                return reset
            cancelled = await call_ats(shared.ats.cancel_interview, booking.id,
                                       timeout=shared.settings.ats_timeout_seconds)
        except ATSUnavailable:
            dispatcher.utter_message(response="utter_scheduling_unavailable")
            return reset
        except ATSError:
            send(dispatcher, [Reply("That interview was already cancelled or moved, so nothing changed.")])
            return reset
        shared.reminders.cancel_for(cancelled.id)
        send(dispatcher, [cancelled_reply(cancelled)])
        return reset


class ActionSendInterviewReminder(Action):
    """Run by the reminder scheduler in the Rasa server, with the booking in `reminder_booking`."""

    def name(self) -> str:
        return "action_send_interview_reminder"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        shared = services()
        booking_id = tracker.get_slot("reminder_booking")
        lead = dt.timedelta(minutes=float(tracker.get_slot("reminder_lead_minutes") or 0))
        reset = [SlotSet("reminder_booking", None), SlotSet("reminder_lead_minutes", None)]
        if not booking_id:
            return reset
        booking = await call_ats(shared.ats.get_booking, booking_id, timeout=shared.settings.ats_timeout_seconds)
        # Only a booking made in this very conversation, still booked and still ahead, is reminded of.
        if booking is None or booking.status != "booked" or booking.conversation_id != tracker.sender_id \
                or booking.starts_at <= now_utc():
            return reset
        dispatcher.utter_message(text=reminder_text(booking, lead))
        return reset
