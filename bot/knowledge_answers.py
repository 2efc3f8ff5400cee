"""What the assistant says when the knowledge base has no confident answer."""

from __future__ import annotations

from bot.replies import Button, Reply


def unknown_answer() -> Reply:
    return Reply("I don't have a reliable answer to that, and I'd rather not guess. "
                 "Would you like me to ask a recruiter?",
                 (Button("Yes, ask a recruiter", "/request_human"), Button("No thanks", "/deny")))
