"""Conversations a person must take: queued durably for the recruiting team."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions.services import sender_of, services
from bot.ats import ATSUnavailable, call_ats
from bot.identity import find_verified_candidate
from bot.sensitive import sensitive_category

logger = logging.getLogger(__name__)


async def queue_for_recruiter(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str,
                              confirmation: str) -> list[dict[str, Any]]:
    """Queue a handoff (with the candidate's id only when verified) and tell the candidate."""
    shared = services()
    sender = sender_of(tracker)
    candidate_id = None
    if sender is not None:
        try:
            candidate = await call_ats(find_verified_candidate, shared.ats, sender,
                                       timeout=shared.settings.ats_timeout_seconds)
            candidate_id = candidate.id if candidate else None
        except ATSUnavailable:
            pass  # the request still goes through; the recruiter looks the candidate up
    try:
        shared.handoffs.request(tracker.sender_id, tracker.get_latest_input_channel() or "unknown",
                                reason, candidate_id=candidate_id)
    except SQLAlchemyError:
        logger.exception("handoff (%s) for %s could not be stored", reason, tracker.sender_id)
        dispatcher.utter_message(response="utter_handoff_failed")
        return []
    dispatcher.utter_message(response=confirmation)
    return []


class ActionRequestHuman(Action):
    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        return await queue_for_recruiter(dispatcher, tracker, "requested_by_candidate", "utter_handoff_requested")


class ActionRouteSensitive(Action):
    """Offers, accommodations, complaints, discrimination, a candidate's own visa case: a human answers."""

    def name(self) -> str:
        return "action_route_sensitive"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        return await queue_for_recruiter(dispatcher, tracker, "sensitive_topic", "utter_sensitive_handoff")


async def route_if_sensitive(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]] | None:
    """Hand a sensitive message to a person whatever intent NLU gave it; None when it is not sensitive."""
    if sensitive_category((tracker.latest_message or {}).get("text")) is None:
        return None
    return await queue_for_recruiter(dispatcher, tracker, "sensitive_topic", "utter_sensitive_handoff")
