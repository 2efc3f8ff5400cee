"""Custom actions with rasa-sdk's own Tracker and CollectingDispatcher, on a real SQLite ATS."""

from __future__ import annotations

import sqlite3
import time

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import services as services_module
from actions.fallback import ActionDefaultAskAffirmation
from actions.handoff import ActionRequestHuman, ActionRouteSensitive
from actions.knowledge import ActionAnswerFaq, ActionAnswerRoleQuestion
from actions.status import ActionCheckStatus
from bot.handoff import HandoffLog
from bot.store import open_state_db
from tests.conftest import DEMO_SEED
from tests.test_knowledge import KB


@pytest.fixture(autouse=True)
def action_env(tmp_path, monkeypatch):
    monkeypatch.setenv("ATS_DATABASE", str(tmp_path / "ats.db"))
    monkeypatch.setenv("ATS_SEED_FILE", str(DEMO_SEED))
    monkeypatch.setenv("STATE_DATABASE", str(tmp_path / "state.db"))
    monkeypatch.setenv("ATS_TIMEOUT_SECONDS", "1")
    knowledge = tmp_path / "faqs.yml"
    knowledge.write_text(KB)
    monkeypatch.setenv("KNOWLEDGE_FILE", str(knowledge))
    services_module.reset_services()
    yield tmp_path
    services_module.reset_services()


def tracker(text="where's my application?", channel="twilio", phone="+16175550101", intent="check_status",
            entities=None, ranking=None, sender_id="sms-test") -> Tracker:
    metadata = {"verified_phone": phone} if phone else {}
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities or [],
              "metadata": metadata, "intent_ranking": ranking or []}
    events = [{"event": "user", "text": text, "parse_data": latest, "input_channel": channel, "metadata": metadata}]
    return Tracker(sender_id, {}, latest, events, False, None, {}, "action_listen")


async def run(action, track) -> CollectingDispatcher:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, track, {})
    assert events == []
    return dispatcher


async def test_verified_candidate_gets_their_status():
    dispatcher = await run(ActionCheckStatus(), tracker())
    [message] = dispatcher.messages
    assert "Technical Interview" in message["text"] and "Dana Lee" in message["text"]


async def test_role_entity_focuses_one_application():
    entities = [{"entity": "role", "value": "backend engineer"}]
    dispatcher = await run(ActionCheckStatus(), tracker(phone="+16175550102", entities=entities))
    assert "Your application for Senior Backend Engineer" in dispatcher.messages[0]["text"]


async def test_unknown_number_learns_nothing():
    dispatcher = await run(ActionCheckStatus(), tracker(text="I'm Priya Nair", intent="identify", phone="+12025550143"))
    assert [m["response"] for m in dispatcher.messages] == ["utter_status_unknown_sender"]


async def test_metadata_from_an_unverified_channel_is_ignored():
    # A REST client can send {"verified_phone": ...}; only the SMS channel's word counts.
    dispatcher = await run(ActionCheckStatus(), tracker(channel="rest"))
    assert [m["response"] for m in dispatcher.messages] == ["utter_status_unverified_channel"]


async def test_uncommunicated_rejection_is_handed_to_the_recruiter(action_env):
    dispatcher = await run(ActionCheckStatus(), tracker(phone="+16175550103", sender_id="sms-mei"))
    assert "reject" not in dispatcher.messages[0]["text"].lower()
    [request] = HandoffLog(open_state_db(action_env / "state.db")).open_requests()
    assert (request.conversation_id, request.reason, request.candidate_id) == (
        "sms-mei", "uncommunicated_rejection", "c3")
    await run(ActionCheckStatus(), tracker(phone="+16175550103", sender_id="sms-mei"))
    assert len(HandoffLog(open_state_db(action_env / "state.db")).open_requests()) == 1  # asked twice, queued once


async def test_ats_down_gets_an_apology_quickly(action_env):
    services_module.services()  # opened (and seeded) before the outage
    blocker = sqlite3.connect(action_env / "ats.db")
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        dispatcher = await run(ActionCheckStatus(), tracker())
        assert time.monotonic() - started < 3
    finally:
        blocker.rollback()
        blocker.close()
    assert [m["response"] for m in dispatcher.messages] == ["utter_ats_unavailable"]


async def test_request_human_is_queued_with_the_verified_candidate(action_env):
    dispatcher = await run(ActionRequestHuman(), tracker(text="real person pls", intent="request_human"))
    assert [m["response"] for m in dispatcher.messages] == ["utter_handoff_requested"]
    [request] = HandoffLog(open_state_db(action_env / "state.db")).open_requests()
    assert (request.reason, request.candidate_id, request.channel) == ("requested_by_candidate", "c1", "twilio")


async def test_request_human_from_an_unverified_sender_names_no_candidate(action_env):
    await run(ActionRequestHuman(), tracker(text="agent", intent="request_human", channel="rest"))
    [request] = HandoffLog(open_state_db(action_env / "state.db")).open_requests()
    assert request.candidate_id is None


async def test_fallback_asks_in_plain_words():
    ranking = [{"name": "nlu_fallback", "confidence": 0.6}, {"name": "request_human", "confidence": 0.4}]
    dispatcher = await run(ActionDefaultAskAffirmation(), tracker(intent="nlu_fallback", ranking=ranking))
    [message] = dispatcher.messages
    assert message["text"] == "Just to check, did you mean that you'd like to talk to a recruiter?"
    assert [b["payload"] for b in message["buttons"]] == ["/request_human", "/out_of_scope"]


async def test_role_question_from_an_unverified_sender_is_answered_from_job_data():
    entities = [{"entity": "role", "value": "ml engineer"}]
    dispatcher = await run(ActionAnswerRoleQuestion(), tracker(text="salary for ml engineer?", intent="ask_salary",
                                                                channel="rest", phone=None, entities=entities))
    assert "$150,000 to $190,000" in dispatcher.messages[0]["text"]


async def test_this_role_for_a_verified_candidate_is_their_job():
    dispatcher = await run(ActionAnswerRoleQuestion(), tracker(text="is this role remote?", intent="ask_remote"))
    assert dispatcher.messages[0]["text"].startswith("The Machine Learning Engineer role is hybrid")


async def test_this_role_for_an_unverified_sender_asks_which():
    dispatcher = await run(ActionAnswerRoleQuestion(), tracker(text="is this role remote?", intent="ask_remote",
                                                                channel="rest"))
    assert dispatcher.messages[0]["text"] == "Which role would you like to know remote work for?"
    assert len(dispatcher.messages[0]["buttons"]) == 5


async def test_faq_answer_and_its_topic():
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerFaq().run(dispatcher, tracker(text="do u offer maternity leave", intent="ask_faq"), {})
    assert dispatcher.messages[0]["text"] == "All parents get 20 weeks of fully paid leave."
    assert events == [{"event": "slot", "timestamp": None, "name": "knowledge_topic", "value": "benefits"}]


async def test_faq_without_a_confident_answer_says_so_and_offers_a_recruiter():
    dispatcher = CollectingDispatcher()
    await ActionAnswerFaq().run(dispatcher, tracker(text="do you sell pet food", intent="ask_faq"), {})
    [message] = dispatcher.messages
    assert message["text"].startswith("I don't have a reliable answer to that")
    assert message["buttons"][0]["payload"] == "/request_human"


async def test_sensitive_topic_is_queued_for_a_recruiter(action_env):
    dispatcher = await run(ActionRouteSensitive(), tracker(text="can i negotiate my offer", intent="sensitive_topic"))
    assert [m["response"] for m in dispatcher.messages] == ["utter_sensitive_handoff"]
    [request] = HandoffLog(open_state_db(action_env / "state.db")).open_requests()
    assert (request.reason, request.candidate_id) == ("sensitive_topic", "c1")


@pytest.mark.parametrize(("action", "intent"), [(ActionCheckStatus(), "check_status"),
                                                (ActionAnswerRoleQuestion(), "ask_salary"),
                                                (ActionAnswerFaq(), "ask_faq")])
async def test_a_sensitive_message_misread_by_nlu_still_goes_to_a_person(action_env, action, intent):
    text = "another company offered me 20k more, can you match it"
    dispatcher = CollectingDispatcher()
    await action.run(dispatcher, tracker(text=text, intent=intent), {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_sensitive_handoff"]
    [request] = HandoffLog(open_state_db(action_env / "state.db")).open_requests()
    assert request.reason == "sensitive_topic"


async def test_a_knowledge_file_broken_at_start_up_is_used_once_fixed(action_env):
    knowledge = action_env / "faqs.yml"
    knowledge.write_text("faqs: [")
    dispatcher = CollectingDispatcher()
    await ActionAnswerFaq().run(dispatcher, tracker(text="maternity leave?", intent="ask_faq"), {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_knowledge_unavailable"]
    knowledge.write_text(KB)
    dispatcher = CollectingDispatcher()
    await ActionAnswerFaq().run(dispatcher, tracker(text="maternity leave?", intent="ask_faq"), {})
    assert dispatcher.messages[0]["text"] == "All parents get 20 weeks of fully paid leave."


async def test_role_question_during_an_ats_outage_gets_the_apology(action_env):
    services_module.services()  # opened (and seeded) before the outage
    blocker = sqlite3.connect(action_env / "ats.db")
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        dispatcher = await run(ActionAnswerRoleQuestion(), tracker(text="is this role remote?", intent="ask_remote"))
    finally:
        blocker.rollback()
        blocker.close()
    assert [m["response"] for m in dispatcher.messages] == ["utter_ats_unavailable"]
