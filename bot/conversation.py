"""Conversation wording that depends on intents, kept out of the actions so it can be tested."""

from __future__ import annotations

from bot.replies import Button, Reply

# What each intent means, as a candidate would say it ("Did you mean: ...?").
INTENT_DESCRIPTIONS = {
    "check_status": "you'd like an update on your application",
    "identify": "you're telling me who you are",
    "request_human": "you'd like to talk to a recruiter",
    "help": "you'd like to know what I can do",
    "greet": "you're saying hello",
    "goodbye": "you're saying goodbye",
    "done": "you're all set and don't need anything else",
    "thank": "you're saying thanks",
    "bot_challenge": "you're asking whether I'm a bot",
    "ask_salary": "you'd like to know a role's pay range",
    "ask_location": "you'd like to know where a role is based",
    "ask_remote": "you're asking about remote work",
    "ask_role_details": "you'd like to know more about a role",
    "ask_interview_process": "you're asking about the interview steps for a role",
    "ask_faq": "you have a question about working here or our hiring process",
    "sensitive_topic": "you'd like to discuss something personally with a recruiter",
}
OUT_OF_SCOPE_PAYLOAD = "/out_of_scope"  # Rasa's two-stage fallback reads this intent as "no"


def affirmation_question(intent: str | None) -> Reply:
    description = INTENT_DESCRIPTIONS.get(intent or "")
    if description is None:
        return Reply("Sorry, I'm not sure I understood. Did you want an update on your application?",
                     (Button("Yes", "/check_status"), Button("No", OUT_OF_SCOPE_PAYLOAD)))
    return Reply(f"Just to check, did you mean that {description}?",
                 (Button("Yes", f"/{intent}"), Button("No", OUT_OF_SCOPE_PAYLOAD)))
