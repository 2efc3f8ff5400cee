"""SMS rules without a server: keywords, numbered choices, TwiML, and the durable ledger."""

from __future__ import annotations

import pytest

from bot.sms import (
    SMS_BODY_LIMIT,
    SmsLedger,
    choice_number,
    clean_inbound_text,
    conversation_id_for,
    is_too_long,
    keyword_of,
    keyword_reply,
    render_twiml,
)
from bot.twilio_webhook import twiml_messages


@pytest.mark.parametrize(("text", "keyword"), [
    ("STOP", "STOP"), ("stop", "STOP"), (" Stop. ", "STOP"), ("unsubscribe", "UNSUBSCRIBE"),
    ("Start", "START"), ("HELP", "HELP"), ("info", "INFO"), ("yes", "YES"),
    ("please stop texting me", None), ("cancel my interview", None), ("help me with my application", None),
])
def test_only_a_lone_keyword_counts(text, keyword):
    assert keyword_of(text) == keyword


@pytest.mark.parametrize(("text", "number"), [("1", 1), (" 2 ", 2), ("#3", 3), ("option 2", 2), ("1.", 1),
                                              ("12", 12), ("1 please", None), ("one", None), ("", None)])
def test_numbered_choices(text, number):
    assert choice_number(text) == number


def test_inbound_text_is_cleaned_but_never_cut_short_so_a_long_one_can_be_refused_whole():
    assert clean_inbound_text("\u200b\uff57\uff48\uff45\uff52\uff45 is my app\x00\x07  ") == "where is my app"
    assert len(clean_inbound_text("a" * 50_000)) == 50_000
    assert is_too_long("a" * 2001) and not is_too_long("a" * 2000)


def test_conversation_ids_are_stable_and_hide_the_number():
    first = conversation_id_for("+16175550101", "key")
    assert first == conversation_id_for("+16175550101", "key")
    assert first != conversation_id_for("+16175550102", "key")
    assert first != conversation_id_for("+16175550101", "another key")
    assert "6175550101" not in first and first.startswith("sms-")


def test_keyword_replies_name_the_program_and_the_way_out():
    assert "Reply START" in keyword_reply("STOP", "Acme Careers", None)
    help_text = keyword_reply("HELP", "Acme Careers", "careers@acme.example")
    assert "Acme Careers" in help_text and "careers@acme.example" in help_text and "STOP" in help_text


def test_buttons_become_numbered_choices_in_twiml():
    twiml, offered = render_twiml([
        {"text": "Hi!"},
        {"text": "Which one?", "buttons": [{"title": "Data Engineer", "payload": "/a"},
                                           {"title": "Designer", "payload": "/b"}]},
    ])
    assert twiml.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Message>')
    assert twiml_messages(twiml) == ["Hi!", "Which one?\nReply with a number:\n1 - Data Engineer\n2 - Designer"]
    assert [b["payload"] for b in offered] == ["/a", "/b"]


def test_long_replies_are_split_at_twilios_limit():
    twiml, _ = render_twiml([{"text": "word " * 700}])
    messages = twiml_messages(twiml)
    assert len(messages) == 3 and all(len(message) <= SMS_BODY_LIMIT for message in messages)


def test_xml_special_characters_are_escaped():
    twiml, _ = render_twiml([{"text": "R&D <team> \"quotes\""}])
    assert twiml_messages(twiml) == ["R&D <team> \"quotes\""]


def test_ledger_answers_each_message_sid_once(state_engine):
    ledger = SmsLedger(state_engine)
    assert ledger.claim("SM1", "sms-x").is_new
    in_flight = ledger.claim("SM1", "sms-x")
    assert not in_flight.is_new and in_flight.stored_response is None
    ledger.record_response("SM1", "<Response/>")
    assert ledger.claim("SM1", "sms-x").stored_response == "<Response/>"
    ledger.release("SM1")
    assert ledger.claim("SM1", "sms-x").is_new


def test_ledger_opt_outs_and_choices_survive_a_new_connection(tmp_path):
    from bot.store import open_state_db

    first = SmsLedger(open_state_db(tmp_path / "state.db"))
    first.opt_out("+16175550101")
    first.opt_out("+16175550101")
    first.offer_choices("sms-x", [{"title": "A", "payload": "/a"}])
    first.remember_contact("sms-x", "+16175550101")
    again = SmsLedger(open_state_db(tmp_path / "state.db"))
    assert again.is_opted_out("+16175550101") and not again.is_opted_out("+16175550102")
    assert again.chosen_payload("sms-x", 1) == "/a" and again.chosen_payload("sms-x", 2) is None
    assert again.phone_for("sms-x") == "+16175550101"
    again.opt_in("+16175550101")
    assert not again.is_opted_out("+16175550101")
    again.offer_choices("sms-x", [])
    assert again.chosen_payload("sms-x", 1) is None


def test_a_claim_left_unanswered_by_a_dead_process_is_taken_over(state_engine):
    import datetime as dt

    import sqlalchemy as sa

    from bot.sms import CLAIM_LEASE, inbound_sms

    ledger = SmsLedger(state_engine)
    assert ledger.claim("SMdead", "sms-x").is_new
    assert not ledger.claim("SMdead", "sms-x").is_new  # being answered: a redelivery waits for that answer
    with state_engine.begin() as connection:  # the replica answering it died; the lease runs out
        connection.execute(inbound_sms.update().values(
            received_at=sa.func.datetime("now", f"-{int(CLAIM_LEASE.total_seconds()) + 5} seconds")))
    taken = ledger.claim("SMdead", "sms-x")
    assert taken.is_new  # processed by the redelivery instead of answered empty
    assert not ledger.claim("SMdead", "sms-x").is_new  # and only by one of them
    ledger.record_response("SMdead", "<Response/>")
    with state_engine.begin() as connection:
        connection.execute(inbound_sms.update().values(received_at=dt.datetime(2000, 1, 1)))
    assert not ledger.claim("SMdead", "sms-x").is_new  # an answered message is never processed again


def test_a_claim_renewed_while_its_answer_is_slow_is_not_taken_over(state_engine):
    import sqlalchemy as sa

    from bot.sms import CLAIM_LEASE, inbound_sms

    ledger = SmsLedger(state_engine)
    assert ledger.claim("SMslow", "sms-x").is_new
    with state_engine.begin() as connection:  # the answer has taken longer than the lease (a saturated server)
        connection.execute(inbound_sms.update().values(
            received_at=sa.func.datetime("now", f"-{int(CLAIM_LEASE.total_seconds()) + 5} seconds")))
    ledger.renew("SMslow")  # ... but its server is alive and renews the claim while it works
    assert not ledger.take_over("SMslow")
    assert not ledger.claim("SMslow", "sms-x").is_new  # a redelivery waits for that answer
