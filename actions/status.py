"""Where's my application? Answered only to a sender the channel has verified."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import TooManyHandoffs, open_handoff, route_if_sensitive, taking_over
from actions.services import remember_contact, send, sender_of, services
from bot.ats import ATSUnavailable, call_ats
from bot.ats.base import ATSError
from bot.handoff_cards import opened_notice
from bot.rate_limits import TOO_MANY_HANDOFFS_REPLY
from bot.status import load_status_context, status_answer
from bot.status_updates import update_reply

logger = logging.getLogger(__name__)


class ActionCheckStatus(Action):
    def name(self) -> str:
        return "action_check_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        routed = await route_if_sensitive(dispatcher, tracker)
        if routed is not None:
            return routed
        sender = sender_of(tracker)
        if sender is None:
            web = tracker.get_latest_input_channel() == "web"
            dispatcher.utter_message(
                response="utter_status_unverified_web" if web else "utter_status_unverified_channel")
            return []
        shared = services()
        try:
            context = await call_ats(load_status_context, shared.ats, sender,
                                     timeout=shared.settings.ats_timeout_seconds)
        except ATSUnavailable as error:
            logger.warning("status for %s: ATS unavailable (%s)", tracker.sender_id, error)
            dispatcher.utter_message(response="utter_ats_unavailable")
            return []
        if context is None:
            dispatcher.utter_message(response="utter_status_unknown_sender")
            return []
        remember_contact(tracker, context.candidate.id)

        role = next(tracker.get_latest_entity_values("role"), None)
        answer = status_answer(context.candidate, context.applications, context.company,
                               today=shared.today(context.company.timezone), role=role,
                               message=(tracker.latest_message or {}).get("text"))
        send(dispatcher, answer.replies)
        # A recruiter takes over once the candidate is looking at the application they must hear about in person.
        for handoff in answer.handoffs[:1] if answer.focused else ():
            try:
                opened = await open_handoff(tracker, handoff.reason, context, handoff.application_id)
            except TooManyHandoffs:
                dispatcher.utter_message(text=TOO_MANY_HANDOFFS_REPLY)
                return []
            if opened is not None and opened[0].takes_over:
                dispatcher.utter_message(text=opened_notice(handoff.reason, opened[2], already_open=not opened[1]))
                return taking_over(tracker)
        return []


class ActionSendStatusUpdate(Action):
    """Run by the status-update loop in the Rasa server, with the application in `status_update_application`.

    The loop chose this conversation from the candidate's verified contact (or their phone number), so the
    update is theirs to read, and it is read out only while that loop is sending it here (the slot alone names an
    application, not whose it is); it is re-read from the ATS so the words match what the ATS says now.
    """

    def name(self) -> str:
        return "action_send_status_update"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        application_id = tracker.get_slot("status_update_application")
        reset = [SlotSet("status_update_application", None)]
        if not application_id:
            return reset
        shared = services()
        if shared.status_updates is None or not shared.status_updates.is_being_sent(tracker.sender_id,
                                                                                    str(application_id)):
            logger.warning("conversation %s: a status update that is not being sent to it was refused",
                           tracker.sender_id)
            return reset
        timeout = shared.settings.ats_timeout_seconds
        try:
            application = await call_ats(shared.ats.get_application, application_id, timeout=timeout)
            candidate = application and await call_ats(shared.ats.get_candidate, application.candidate_id,
                                                       timeout=timeout)
            company = await call_ats(shared.ats.company, timeout=timeout)
        except ATSError as error:
            logger.warning("status update for application %s: ATS unavailable (%s)", application_id, error)
            return reset  # nothing sent: the loop retries the update later
        if application is None or candidate is None:
            return reset
        send(dispatcher, [update_reply(application, candidate, company)])
        return reset
