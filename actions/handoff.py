"""Conversations a person must take: a recruiter is asked to join, in Slack (see bot/handoff.py)."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions.services import client_key_of, sender_of, services
from bot.ats import ATSUnavailable, call_ats
from bot.business_hours import reply_expectation
from bot.clock import now_utc
from bot.handoff import Handoff, card_for
from bot.handoff_cards import opened_notice
from bot.knowledge_answers import unknown_answer
from bot.rate_limits import TOO_MANY_HANDOFFS_REPLY
from bot.scheduling import SchedulingContext
from bot.sensitive import sensitive_category
from bot.status import StatusContext, load_status_context

logger = logging.getLogger(__name__)
HANDOFF_SLOT = "handoff_active"
# "thanks, that's all" (done), "bye" (goodbye): the candidate is finished with the recruiter. Below
# this confidence the message is only relayed; a plain "thanks" (intent thank) is always relayed.
END_INTENTS = ("done", "goodbye")
END_CONFIDENCE = 0.8  # cross-validation: a few held-out messages reach `done` at 0.7


class TooManyHandoffs(Exception):
    """The conversation or its client opened its allowance of new handoffs this hour: no card is posted."""


def transcript_of(tracker: Tracker) -> list[tuple[str, str]]:
    return [("candidate" if event["event"] == "user" else "assistant", event.get("text") or "")
            for event in tracker.events if event.get("event") in ("user", "bot") and event.get("text")]


async def open_handoff(tracker: Tracker, reason: str, context: StatusContext | SchedulingContext | None = None,
                       application_id: str | None = None) -> tuple[Handoff, bool, str] | None:
    """Open (or find) the conversation's handoff; returns it, whether it is new, and what to expect.

    None when it could not be stored, and the candidate must be told so. TooManyHandoffs when this
    conversation or client opened too many this hour (RATE_LIMIT_*HANDOFFS_PER_HOUR): say TOO_MANY_HANDOFFS_REPLY.
    """
    shared = services()
    sender = sender_of(tracker)
    timeout = shared.settings.ats_timeout_seconds
    timezone = "UTC"
    try:
        if context is None and sender is not None:
            context = await call_ats(load_status_context, shared.ats, sender, timeout=timeout)
        company = context.company if context else await call_ats(shared.ats.company, timeout=timeout)
        timezone = company.timezone
    except ATSUnavailable:
        pass  # the card goes out without the candidate's details; the recruiter looks them up
    channel = tracker.get_latest_input_channel() or "unknown"
    card, application = card_for(reason, channel, context, transcript_of(tracker), application_id)
    desk = shared.handoff_desk(timezone)
    try:
        if desk.live_for(tracker.sender_id) is None:  # asking again while a recruiter is asked opens nothing new
            decision = shared.rate_limiter.handoff(tracker.sender_id, client_key_of(tracker))
            if not decision.allowed:
                logger.info("handoff (%s) for %s refused: too many this hour", reason, tracker.sender_id)
                raise TooManyHandoffs
        handoff, created = desk.open(tracker.sender_id, channel, card,
                                     candidate_id=context.candidate.id if context else None,
                                     application_id=application.id if application else None)
    except SQLAlchemyError:
        logger.exception("handoff (%s) for %s could not be stored", reason, tracker.sender_id)
        return None
    return handoff, created, reply_expectation(desk.rules.hours, now_utc(), desk.rules.claim_within)


def taking_over(tracker: Tracker) -> list[dict[str, Any]]:
    """Events that give the conversation to the recruiter: no form keeps running underneath."""
    events: list[dict[str, Any]] = [SlotSet(HANDOFF_SLOT, True)]
    if tracker.active_loop_name:
        events += [ActiveLoop(None), SlotSet("requested_slot", None)]
    return events


async def hand_to_recruiter(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str,
                            fallback_response: str) -> list[dict[str, Any]]:
    """Ask a recruiter to join and tell the candidate honestly what happens next."""
    try:
        opened = await open_handoff(tracker, reason)
    except TooManyHandoffs:
        dispatcher.utter_message(text=TOO_MANY_HANDOFFS_REPLY)
        return []
    if opened is None:
        dispatcher.utter_message(response="utter_handoff_failed")
        return []
    handoff, created, expectation = opened
    if not handoff.takes_over:  # no Slack: the request waits in the recruiters' queue, the bot keeps answering
        dispatcher.utter_message(response=fallback_response)
        return []
    dispatcher.utter_message(text=opened_notice(reason, expectation, already_open=not created))
    return taking_over(tracker)


def _after_unknown_answer(tracker: Tracker) -> bool:
    bot_texts = [e.get("text") for e in tracker.events if e.get("event") == "bot"]
    return bool(bot_texts) and bot_texts[-1] == unknown_answer().text


class ActionRequestHuman(Action):
    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        reason = "unanswered_question" if _after_unknown_answer(tracker) else "requested_by_candidate"
        return await hand_to_recruiter(dispatcher, tracker, reason, "utter_handoff_requested")


class ActionRouteSensitive(Action):
    """Offers, accommodations, complaints, discrimination, a candidate's own visa case: a human answers."""

    def name(self) -> str:
        return "action_route_sensitive"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        return await hand_to_recruiter(dispatcher, tracker, "sensitive_topic", "utter_sensitive_handoff")


class ActionDefaultFallback(Action):
    """Rasa's last resort (the two-stage fallback gave up): a person takes over instead of a dead end."""

    def name(self) -> str:
        return "action_default_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        # Like Rasa's own fallback, forget the message that was not understood before anything else.
        return [UserUtteranceReverted(),
                *await hand_to_recruiter(dispatcher, tracker, "not_understood", "utter_default")]


class ActionRelayToRecruiter(Action):
    """While a recruiter has the conversation: the candidate's message goes to the Slack thread."""

    def name(self) -> str:
        return "action_relay_to_recruiter"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        desk = services().handoff_desk()
        message = tracker.latest_message or {}
        intent = message.get("intent") or {}
        text = message.get("text") or ""
        try:
            handoff = desk.relay_from_candidate(tracker.sender_id, text) if text.strip() else desk.live_for(
                tracker.sender_id)
            if handoff is None:  # ended meanwhile (handed back from Slack): the bot has the conversation again
                dispatcher.utter_message(response="utter_handoff_over")
                return [SlotSet(HANDOFF_SLOT, False)]
            finished = intent.get("name") in END_INTENTS and (intent.get("confidence") or 0) >= END_CONFIDENCE
            if finished and sensitive_category(text) is None:
                desk.end_by_candidate(tracker.sender_id)
                dispatcher.utter_message(response="utter_handoff_ended_by_candidate")
                return [SlotSet(HANDOFF_SLOT, False)]
        except SQLAlchemyError:
            logger.exception("message from %s could not be passed to the recruiter", tracker.sender_id)
            dispatcher.utter_message(response="utter_handoff_relay_failed")
        return []


async def route_if_sensitive(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]] | None:
    """Hand a sensitive message to a person whatever intent NLU gave it; None when it is not sensitive."""
    if sensitive_category((tracker.latest_message or {}).get("text")) is None:
        return None
    return await hand_to_recruiter(dispatcher, tracker, "sensitive_topic", "utter_sensitive_handoff")
