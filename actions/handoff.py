"""A candidate asks for a person: queue a durable request for the recruiting team."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions.services import sender_of, services
from bot.ats import ATSUnavailable, call_ats
from bot.identity import find_verified_candidate

logger = logging.getLogger(__name__)


class ActionRequestHuman(Action):
    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
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
                                    "requested_by_candidate", candidate_id=candidate_id)
        except SQLAlchemyError:
            logger.exception("handoff request for %s could not be stored", tracker.sender_id)
            dispatcher.utter_message(response="utter_handoff_failed")
            return []
        dispatcher.utter_message(response="utter_handoff_requested")
        return []
