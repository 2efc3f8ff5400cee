"""The first stage of the two-stage fallback, asking in words a candidate understands."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.conversation import affirmation_question


class ActionDefaultAskAffirmation(Action):
    def name(self) -> str:
        return "action_default_ask_affirmation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        ranking = (tracker.latest_message or {}).get("intent_ranking") or []
        candidates = [entry.get("name") for entry in ranking if entry.get("name") != "nlu_fallback"]
        question = affirmation_question(candidates[0] if candidates else None)
        dispatcher.utter_message(text=question.text,
                                 buttons=[{"title": b.title, "payload": b.payload} for b in question.buttons])
        return []
