"""A web visitor proves who they are with a one-time code sent to the email on their application."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.services import client_key_of, services
from bot.email_codes import code_in, email_in

logger = logging.getLogger(__name__)
RETRY_MESSAGES = {
    "wrong": "That code isn't right. Please check the email and type the 6 digits again.",
    "expired": "That code has expired. Tell me the email on your application again and I'll send a new one.",
    "no_code": "That code has expired. Tell me the email on your application again and I'll send a new one.",
    "too_many_tries": "That's too many wrong tries for this code. Tell me the email on your application again and "
                      "I'll send a new one.",
    "locked": "That's too many wrong codes for today. Please try again tomorrow, or say \"stop\".",
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
        client_key = client_key_of(tracker)
        # The same words, after the same work, whether or not the email is on an application and whether or not
        # it can be sent: the ATS lookup and the email happen in the background, so the chat never reveals who applied.
        if shared.email_codes.rate_limited(tracker.sender_id, email, client_key=client_key):
            dispatcher.utter_message(text="You've asked for several codes in a short time. Please try again later, "
                                          "or say \"stop\".")
            return {"verification_email": None}
        shared.email_codes.request(tracker.sender_id, email, client_key=client_key)
        shared.code_sender.start()
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
        result = services().email_codes.check(tracker.sender_id, code, client_key=client_key_of(tracker))
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
