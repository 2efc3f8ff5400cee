"""Stage explanations, role matching, phone numbers and who counts as verified."""

from __future__ import annotations

import pytest

from bot.ats.base import Job, Stage
from bot.identity import IDENTITY_SEAL_KEY, VERIFIED_PHONE_KEY, identity_seal, verified_metadata, verified_sender
from bot.phone import normalise_phone
from bot.roles import best_role_match, role_mentioned_in
from bot.sms import conversation_id_for
from bot.stages import describe_duration, explain_stage, guide_for


@pytest.mark.parametrize(("stage", "kind"), [
    ("Application Review", "application_review"), ("Recruiter Screen", "recruiter_screen"),
    ("Phone Screen", "recruiter_screen"), ("Hiring Manager Interview", "hiring_manager"),
    ("Technical Interview", "technical_interview"), ("Coding Challenge", "technical_interview"),
    ("Design Exercise", "take_home"), ("Onsite Loop", "onsite"), ("Final Interviews", "onsite"),
    ("Reference Check", "references"), ("Offer", "offer"), ("Something Bespoke", "other"),
])
def test_common_stage_names_are_recognised(stage, kind):
    assert guide_for(stage).kind == kind


def test_the_last_stage_says_a_decision_comes_next():
    job = Job(id="j", title="T", stages=(Stage("Review"), Stage("Final Interviews")))
    assert "last step" in explain_stage(job, "Final Interviews").next_step
    assert "Final Interviews" in explain_stage(job, "Review").next_step


@pytest.mark.parametrize(("days", "words"), [((3, 7), "3 to 7 days"), ((5, 14), "1 to 2 weeks"),
                                             ((7, 14), "1 to 2 weeks"), ((2, 2), "about 2 days")])
def test_durations_read_naturally(days, words):
    assert describe_duration(days) == words


TITLES = ["Machine Learning Engineer", "Data Engineer", "Product Designer", "Senior Backend Engineer"]


@pytest.mark.parametrize(("query", "expected"), [
    ("ML engineer", 0), ("machine lerning", 0), ("the data eng role", 1), ("product design", 2),
    ("sr backend", 3), ("backend", 3),
])
def test_loose_role_names_match(query, expected):
    assert best_role_match(query, TITLES) == expected


@pytest.mark.parametrize("query", ["astronaut", "", "the job"])
def test_unrelated_or_empty_roles_match_nothing(query):
    assert best_role_match(query, TITLES) is None


@pytest.mark.parametrize(("raw", "e164"), [("+1 (617) 555-0101", "+16175550101"), ("617.555.0101", "+16175550101"),
                                           ("+44 7911 123456", "+447911123456"), ("12345", None), ("", None)])
def test_phone_normalisation(raw, e164):
    assert normalise_phone(raw) == e164


KEY = "server-key"
PRIYA = "+16175550101"


def test_only_the_sms_channel_proves_a_phone_number():
    conversation = conversation_id_for(PRIYA, KEY)
    metadata = verified_metadata(KEY, "twilio", conversation, phone=PRIYA)
    assert verified_sender("twilio", metadata, conversation, KEY).phone == PRIYA
    # A REST or shell client can put anything in metadata: it proves nothing.
    for channel in ("rest", "cmdline", "socketio", None):
        assert verified_sender(channel, metadata, conversation, KEY) is None
    assert verified_sender("twilio", {}, conversation, KEY) is None
    assert verified_sender("twilio", {**metadata, VERIFIED_PHONE_KEY: "617 555 0101"}, conversation, KEY) is None


def test_an_identity_without_the_channels_seal_proves_nothing():
    conversation = conversation_id_for(PRIYA, KEY)
    assert verified_sender("twilio", {VERIFIED_PHONE_KEY: PRIYA}, conversation, KEY) is None
    forged = {VERIFIED_PHONE_KEY: PRIYA, IDENTITY_SEAL_KEY: identity_seal("guessed-key", "twilio", conversation,
                                                                          phone=PRIYA)}
    assert verified_sender("twilio", forged, conversation, KEY) is None


def test_a_sealed_identity_copied_into_another_conversation_proves_nothing():
    slack_conversation = "slack-" + "a" * 24
    metadata = verified_metadata(KEY, "slack", slack_conversation, email="priya@example.com")
    assert verified_sender("slack", metadata, slack_conversation, KEY).email == "priya@example.com"
    assert verified_sender("slack", metadata, "slack-" + "b" * 24, KEY) is None
    assert verified_sender("web", metadata, slack_conversation, KEY) is None
    sms = verified_metadata(KEY, "twilio", conversation_id_for(PRIYA, KEY), phone=PRIYA)
    assert verified_sender("twilio", sms, conversation_id_for("+16175550102", KEY), KEY) is None


@pytest.mark.parametrize(("message", "expected"), [
    ("any news on my ML engineer app?", 0), ("did i get the machine lerning engineer role", 0),
    ("whats up with the data eng job", 1), ("update on senior backend engineer pls", 3),
    ("hows my product designer application going", 2),
])
def test_a_title_named_anywhere_in_a_message_is_found(message, expected):
    assert role_mentioned_in(message, TITLES) == expected


@pytest.mark.parametrize("message", ["where's my application?", "any update on the engineer job",
                                     "status pls", "", "did I get the job"])
def test_messages_naming_no_title_or_an_ambiguous_one_find_none(message):
    assert role_mentioned_in(message, TITLES) is None
