"""A web visitor proves who they are with a one-time code sent to the email on their application."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.services import services
from bot.ats import ATSUnavailable, call_ats
from bot.email_codes import code_in, email_in

logger = logging.getLogger(__name__)
RETRY_MESSAGES = {
    "wrong": "That code isn't right. Please check the email and type the 6 digits again.",
    "expired": "That code has expired. Tell me the email on your application again and I'll send a new one.",
    "no_code": "That code has expired. Tell me the email on your application again and I'll send a new one.",
    "too_many_tries": "That's too many wrong tries for this code. Tell me the email on your application again and "
                      "I'll send a new one.",
}


class ActionStartVerification(Action):
    def name(self) -> str:
        return "action_start_verification"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        return [SlotSet("verification_email", None), SlotSet("verification_code", None)]


class ValidateEmailVerificationForm(FormValidationAction):
    def name(self) -> str:
        return "validate_email_verification_form"

    async def validate_verification_email(self, slot_value: Any, dispatcher: CollectingDispatcher,
                                          tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if slot_value is None:
            return {}
        email = email_in(str(slot_value))
        if email is None:
            dispatcher.utter_message(text="That doesn't look like an email address. What's the email on your "
                                          "application? (Or say \"stop\".)")
            return {"verification_email": None}
        shared = services()
        codes = shared.email_codes
        if codes.rate_limited(tracker.sender_id, email):
            dispatcher.utter_message(text="You've asked for several codes in a short time. Please wait 15 minutes "
                                          "and try again, or say \"stop\".")
            return {"verification_email": None}
        try:
            known = await call_ats(shared.ats.find_candidate_by_email, email,
                                   timeout=shared.settings.ats_timeout_seconds) is not None
            company = (await call_ats(shared.ats.company, timeout=shared.settings.ats_timeout_seconds)).name
        except ATSUnavailable:
            dispatcher.utter_message(response="utter_ats_unavailable")
            return {"verification_email": None}
        code = codes.issue(tracker.sender_id, email, on_an_application=known)
        if code is not None:
            try:
                await asyncio.to_thread(shared.mailer.send_code, email, code, company,
                                        round(shared.settings.email_code_minutes))
            except (OSError, smtplib.SMTPException) as error:
                logger.error("verification email could not be sent (%s)", type(error).__name__)
                dispatcher.utter_message(text="Sorry, I couldn't send the email just now. Please try again in a "
                                              "few minutes.")
                return {"verification_email": None}
        # The same words whether or not the email is on an application: the chat never reveals who applied.
        dispatcher.utter_message(text=f"If {email} is on an application with us, I've just sent a 6-digit code to "
                                      f"it. It works once and expires in {round(shared.settings.email_code_minutes)} "
                                      "minutes.")
        return {"verification_email": email}

    async def validate_verification_code(self, slot_value: Any, dispatcher: CollectingDispatcher,
                                         tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if slot_value is None:
            return {}
        code = code_in(str(slot_value))
        if code is None:
            dispatcher.utter_message(text="Please type the 6-digit code from the email, or say \"stop\".")
            return {"verification_code": None}
        result = services().email_codes.check(tracker.sender_id, code)
        if result.email is not None:
            return {"verification_code": "verified"}
        dispatcher.utter_message(text=RETRY_MESSAGES[result.reason])
        if result.reason == "wrong":
            return {"verification_code": None}
        return {"verification_code": None, "verification_email": None}


class ActionVerificationDone(Action):
    def name(self) -> str:
        return "action_verification_done"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        if services().email_codes.verified_email(tracker.sender_id):
            dispatcher.utter_message(text="Thanks, that's you verified.")
        return [SlotSet("verification_code", None)]
