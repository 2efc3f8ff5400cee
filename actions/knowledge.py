"""Questions about roles (from live job data), the company and the process (from the knowledge base)."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import route_if_sensitive
from actions.services import send, sender_of, services
from bot.ats import ATSUnavailable, call_ats
from bot.job_answers import ASPECTS, answer_about_role, load_role_context, resolve_role, which_role
from bot.knowledge_answers import unknown_answer

logger = logging.getLogger(__name__)


class ActionAnswerRoleQuestion(Action):
    def name(self) -> str:
        return "action_answer_role_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        routed = await route_if_sensitive(dispatcher, tracker)
        if routed is not None:
            return routed
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        if intent not in ASPECTS:
            intent = "ask_role_details"
        shared = services()
        sender = sender_of(tracker)
        try:
            # "this role" means the job a verified candidate applied to; never for an unverified sender.
            context = await call_ats(load_role_context, shared.ats, sender,
                                     timeout=shared.settings.ats_timeout_seconds)
        except ATSUnavailable as error:
            logger.warning("role question for %s: ATS unavailable (%s)", tracker.sender_id, error)
            dispatcher.utter_message(response="utter_ats_unavailable")
            return []
        resolution = resolve_role(context.jobs, next(tracker.get_latest_entity_values("role"), None),
                                  (tracker.latest_message or {}).get("text"), context.applied_jobs)
        reply = answer_about_role(intent, resolution.job) if resolution.job else which_role(intent, resolution)
        send(dispatcher, [reply])
        return []


class ActionAnswerFaq(Action):
    def name(self) -> str:
        return "action_answer_faq"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        routed = await route_if_sensitive(dispatcher, tracker)
        if routed is not None:
            return routed
        knowledge = services().knowledge_base()
        if knowledge is None:
            dispatcher.utter_message(response="utter_knowledge_unavailable")
            return []
        answer = knowledge.answer((tracker.latest_message or {}).get("text") or "")
        if not answer.found:
            send(dispatcher, [unknown_answer()])
            return [SlotSet("knowledge_topic", None)]
        dispatcher.utter_message(text=answer.entry.answer)
        return [SlotSet("knowledge_topic", answer.entry.topic)]
