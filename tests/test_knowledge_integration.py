"""Role, culture and process questions over the signed SMS webhook, against the real servers."""

from __future__ import annotations

import os
import time

import pytest

pytestmark = pytest.mark.integration

STRANGER = "+12025550188"  # role and company questions need no verified identity
PRIYA = "+16175550101"


def test_pay_range_of_a_named_role(stack):
    reply = stack.text(STRANGER, "how much does the data engineer job pay")
    assert "The Data Engineer role pays $130,000 to $165,000 a year" in reply.text


def test_a_loose_role_name_and_a_numbered_choice(stack):
    reply = stack.text("+12025550189", "is the engineer job remote?")
    assert "Which role" in reply.text and "Reply with a number" in reply.text
    choice = next(line for line in reply.messages[-1].splitlines() if line.endswith("Senior Backend Engineer"))
    picked = stack.text("+12025550189", choice.split(" - ")[0])
    assert "The Senior Backend Engineer role is fully remote" in picked.text


def test_this_role_for_a_verified_candidate(stack):
    assert "The Machine Learning Engineer role is hybrid" in stack.text(PRIYA, "is this role remote?").text


def test_interview_process_of_a_role(stack):
    reply = stack.text(STRANGER, "what does the interview process look like for product designer")
    assert "The Product Designer hiring process has 6 steps" in reply.text and "Portfolio Review" in reply.text


def test_benefits_and_preparation_come_from_the_knowledge_base(stack):
    assert "20 weeks" in stack.text(STRANGER, "how much maternity leave do u give").text
    assert "STAR" in stack.text(STRANGER, "how do i answer behavioral interview questions").text


def test_sensitive_topics_go_to_a_person(stack):
    reply = stack.text(STRANGER, "can i negotiate my offer? i have a competing one")
    assert "recruiter should talk through with you personally" in reply.text


def test_editing_the_knowledge_file_changes_the_answer_without_a_restart(stack):
    knowledge = stack.workdir / "faqs.yml"
    original = knowledge.read_text()
    assert "All parents get 20 weeks" in original
    try:
        knowledge.write_text(original.replace("All parents get 20 weeks", "All parents get 26 weeks"))
        os.utime(knowledge, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
        assert "26 weeks" in stack.text(STRANGER, "what's the parental leave policy").text
        knowledge.write_text("faqs: [")  # a broken edit: the previous good version keeps answering
        os.utime(knowledge, ns=(time.time_ns(), time.time_ns() + 2_000_000_000))
        assert "26 weeks" in stack.text(STRANGER, "what's the parental leave policy").text
    finally:
        knowledge.write_text(original)
        os.utime(knowledge, ns=(time.time_ns(), time.time_ns() + 3_000_000_000))


@pytest.mark.parametrize("text", ["another company offered me 20k more, can you match it",
                                  "the interviewer asked how old i am, is that legal",
                                  "my OPT expires in may, can you sponsor me"])
def test_sensitive_messages_reach_a_person_whatever_nlu_made_of_them(stack, text):
    reply = stack.text("+12025550190", text)
    assert "recruiter should talk through with you personally" in reply.text
