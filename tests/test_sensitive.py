"""The sensitive-topic guard, on phrasings that appear neither in the NLU data nor were used to write it."""

from __future__ import annotations

import pytest

from bot.sensitive import sensitive_category


@pytest.mark.parametrize(("text", "category"), [
    ("is the number in my offer final or is there wiggle room", "offer_negotiation"),
    ("google offered 15% more, what can you do", "offer_negotiation"),
    ("I use a screen reader, will the coding test work with it", "accommodation"),
    ("i'm hard of hearing, can the interviewer use captions", "accommodation"),
    ("the hiring manager made racist jokes", "complaint"),
    ("i want to report the recruiter for how they spoke to me, it was inappropriate", "complaint"),
    ("they asked if i was married during the screen", "complaint"),
    ("my F-1 OPT ends in june, will you sponsor me", "own_immigration_case"),
    ("can you transfer my h1b before april", "own_immigration_case"),
    ("i have a misdemeanor from 2015, does that matter", "record_check"),
])
def test_sensitive_messages_are_recognised(text, category):
    assert sensitive_category(text) == category


@pytest.mark.parametrize("text", [
    "where's my application", "what's the salary for the data engineer role", "do you sponsor visas?",
    "how should i prepare for the onsite", "is the offer stage the last one?", "how much pto do i get",
    "any update on my offer letter", "is this role remote", "what does the recruiter screen cover",
    "can i talk to a human", "thanks!", "", None,
])
def test_ordinary_questions_are_not_flagged(text):
    assert sensitive_category(text) is None
