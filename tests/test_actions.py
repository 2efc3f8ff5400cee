"""Custom actions with rasa-sdk's own Tracker and CollectingDispatcher, on a real SQLite ATS."""

from __future__ import annotations

import sqlite3
import time

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import services as services_module
from actions.fallback import ActionDefaultAskAffirmation
from actions.handoff import ActionDefaultFallback, ActionRelayToRecruiter, ActionRequestHuman, ActionRouteSensitive
from actions.knowledge import ActionAnswerFaq, ActionAnswerRoleQuestion
from actions.status import ActionCheckStatus
from bot.handoff import HandoffDesk
from bot.identity import verified_metadata
from bot.settings import Settings
from bot.sms import conversation_id_for
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


def conversation_of(phone: str | None) -> str:
    """The conversation our SMS channel names after a verified number (a keyed hash of it)."""
    return conversation_id_for(phone, Settings.from_env().conversation_id_key) if phone else "sms-test"


def sealed(phone: str | None, sender_id: str, channel: str = "twilio") -> dict:
    """The metadata our SMS channel attaches to a message from a number Twilio's signature proved."""
    return verified_metadata(Settings.from_env().conversation_id_key, channel, sender_id, phone=phone)


def tracker(text="where's my application?", channel="twilio", phone="+16175550101", intent="check_status",
            entities=None, ranking=None, sender_id=None, metadata=None) -> Tracker:
    sender_id = sender_id or conversation_of(phone)
    metadata = sealed(phone, sender_id, channel) if metadata is None else metadata
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
    dispatcher = await run(ActionCheckStatus(), tracker(phone="+16175550103"))
    assert "reject" not in dispatcher.messages[0]["text"].lower()
    [request] = HandoffDesk(open_state_db(action_env / "state.db")).listing()
    assert (request.conversation_id, request.reason, request.candidate_id) == (
        conversation_of("+16175550103"), "uncommunicated_rejection", "c3")
    await run(ActionCheckStatus(), tracker(phone="+16175550103"))
    assert len(HandoffDesk(open_state_db(action_env / "state.db")).listing()) == 1  # asked twice, queued once


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
    [request] = HandoffDesk(open_state_db(action_env / "state.db")).listing()
    assert (request.reason, request.candidate_id, request.channel) == ("requested_by_candidate", "c1", "twilio")


async def test_request_human_from_an_unverified_sender_names_no_candidate(action_env):
    await run(ActionRequestHuman(), tracker(text="agent", intent="request_human", channel="rest"))
    [request] = HandoffDesk(open_state_db(action_env / "state.db")).listing()
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
    [request] = HandoffDesk(open_state_db(action_env / "state.db")).listing()
    assert (request.reason, request.candidate_id) == ("sensitive_topic", "c1")


@pytest.mark.parametrize(("action", "intent"), [(ActionCheckStatus(), "check_status"),
                                                (ActionAnswerRoleQuestion(), "ask_salary"),
                                                (ActionAnswerFaq(), "ask_faq")])
async def test_a_sensitive_message_misread_by_nlu_still_goes_to_a_person(action_env, action, intent):
    text = "another company offered me 20k more, can you match it"
    dispatcher = CollectingDispatcher()
    await action.run(dispatcher, tracker(text=text, intent=intent), {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_sensitive_handoff"]
    [request] = HandoffDesk(open_state_db(action_env / "state.db")).listing()
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


# --- with the recruiters' Slack app configured, a recruiter takes the conversation over ---------

@pytest.fixture()
def slack_env(action_env, monkeypatch):
    for name, value in {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret",
                        "SLACK_HANDOFF_CHANNEL": "C0RECRUIT", "RECRUITING_HOURS": "Mon-Sun 00:00-23:59"}.items():
        monkeypatch.setenv(name, value)
    services_module.reset_services()
    return action_env


async def run_events(action, track) -> tuple[CollectingDispatcher, list[dict]]:
    dispatcher = CollectingDispatcher()
    return dispatcher, await action.run(dispatcher, track, {})


async def test_asking_for_a_person_hands_the_conversation_over(slack_env):
    dispatcher, events = await run_events(ActionRequestHuman(), tracker(text="real person pls", intent="request_human"))
    [message] = dispatcher.messages
    assert "I've asked a recruiter to join this conversation" in message["text"]
    assert "usually picks this up within 15 minutes" in message["text"]
    assert events == [{"event": "slot", "timestamp": None, "name": "handoff_active", "value": True}]
    [handoff] = HandoffDesk(open_state_db(slack_env / "state.db")).listing()
    assert handoff.takes_over and handoff.card.candidate_name == "Priya Nair" and handoff.card.recruiter_slack_id


async def test_while_a_recruiter_has_it_messages_are_relayed_and_goodbye_ends_it(slack_env):
    await run_events(ActionRequestHuman(), tracker(text="agent", intent="request_human"))
    relay = ActionRelayToRecruiter()
    dispatcher, events = await run_events(relay, tracker(text="hello? anyone", intent="greet"))
    assert dispatcher.messages == [] and events == []  # silence: a person answers
    desk = HandoffDesk(open_state_db(slack_env / "state.db"))
    bodies = []
    while batch := desk.slack.claim_due():
        for item in batch:
            desk.slack.finish(item.id, "sent")
            bodies.append(item.fields["body"])
    assert bodies == [None, "*Candidate:* hello? anyone"]
    dispatcher, events = await run_events(relay, tracker(text="thanks, that's all", intent="goodbye"))
    assert [m["response"] for m in dispatcher.messages] == ["utter_handoff_ended_by_candidate"]
    assert events[-1]["value"] is False and desk.listing() == []


async def test_a_relay_after_the_recruiter_handed_back_gives_the_bot_back(slack_env):
    dispatcher, events = await run_events(ActionRelayToRecruiter(), tracker(text="hi", intent="greet"))
    assert [m["response"] for m in dispatcher.messages] == ["utter_handoff_over"]
    assert events[-1]["name"] == "handoff_active" and events[-1]["value"] is False


async def test_not_understood_twice_brings_in_a_person(slack_env):
    dispatcher, events = await run_events(ActionDefaultFallback(), tracker(text="qwpoe zzkx", intent="nlu_fallback"))
    assert events[0]["event"] == "rewind" and events[-1]["value"] is True
    assert dispatcher.messages[0]["text"].startswith("Sorry, I still couldn't understand, so I'm bringing in a person.")
    [handoff] = HandoffDesk(open_state_db(slack_env / "state.db")).listing()
    assert handoff.reason == "not_understood"


async def test_without_slack_a_request_is_queued_and_the_bot_keeps_the_conversation(action_env):
    dispatcher, events = await run_events(ActionRequestHuman(), tracker(text="agent", intent="request_human"))
    assert events == [] and [m["response"] for m in dispatcher.messages] == ["utter_handoff_requested"]


async def test_a_person_asked_for_after_an_unknown_answer_is_told_what_was_not_answered(slack_env):
    from bot.knowledge_answers import unknown_answer

    track = tracker(text="Yes, ask a recruiter", intent="request_human")
    track.events.insert(0, {"event": "user", "text": "do you sponsor H1B transfers for contractors?"})
    track.events.insert(1, {"event": "bot", "text": unknown_answer().text})
    await run_events(ActionRequestHuman(), track)
    [handoff] = HandoffDesk(open_state_db(slack_env / "state.db")).listing()
    assert handoff.reason == "unanswered_question"
    assert ("candidate", "do you sponsor H1B transfers for contractors?") in handoff.card.transcript


async def test_a_verified_identity_in_a_conversation_its_channel_did_not_name_is_not_trusted():
    # Our SMS channel names the conversation after the verified number; Priya's number turning up in
    # another conversation (a client that slipped metadata in) learns nothing.
    dispatcher = await run(ActionCheckStatus(), tracker(sender_id="sms-someone-else"))
    assert [m["response"] for m in dispatcher.messages] == ["utter_status_unverified_channel"]
