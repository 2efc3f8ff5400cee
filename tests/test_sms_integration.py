"""End to end: signed Twilio webhooks into a real Rasa server and a real action server.

One stack is started for the session (tests/conftest.py; loading TensorFlow takes ~20 s); each
test uses its own sender so conversations do not interfere.
"""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.twilio_webhook import inbound_params

pytestmark = pytest.mark.integration

PRIYA = "+16175550101"
JAMES = "+16175550102"
MEI = "+16175550103"
NORA = "+16175550107"
STRANGER = "+12025550143"
# Everything about Priya's application that a stranger must never learn.
PRIYA_SECRETS = ("Technical Interview", "Dana", "Machine Learning Engineer", "Nov 10", "Onsite", "Priya")


def test_verified_candidate_learns_where_their_application_stands(stack):
    reply = stack.text(PRIYA, "where's my application?")
    assert reply.status == 200
    assert "Hi Priya!" in reply.text
    assert "Machine Learning Engineer is at the Technical Interview stage" in reply.text
    assert "Dana Lee" in reply.text and "Next:" in reply.text


@pytest.mark.parametrize("body", ["ANY UPDATE ON MY APPLICATION??", "wheres my aplication", "did i get the job",
                                  "\uff41\uff4e\uff59 \uff55\uff50\uff44\uff41\uff54\uff45 on my application 🙏🏽"])
def test_many_ways_of_asking_reach_the_status(stack, body):
    assert "Technical Interview stage" in stack.text(PRIYA, body).text


def test_several_applications_offer_numbered_choices_and_a_number_picks_one(stack):
    listing = stack.text(JAMES, "any news on my applications?")
    assert "You have 2 applications" in listing.text
    assert "Reply with a number:\n1 - Data Engineer\n2 - Senior Backend Engineer" in listing.text
    detail = stack.text(JAMES, "1")
    assert "Your application for Data Engineer is at the Recruiter Screen stage" in detail.text
    assert "Marcus Okafor" in detail.text


@pytest.mark.parametrize(("body", "title"), [("status of my senior backend engineer application?", "Senior Backend"),
                                             ("any news on the data eng job", "Data Engineer")])
def test_naming_the_role_answers_for_that_application(stack, body, title):
    assert f"Your application for {title}" in stack.text(JAMES, body).text


def test_unknown_number_learns_nothing(stack):
    reply = stack.text(STRANGER, "where's my application?")
    assert "can't find an application linked to this number" in reply.text
    assert not any(secret in reply.text for secret in PRIYA_SECRETS)


@pytest.mark.parametrize("claim", [
    "I'm Priya Nair", "my email is priya@example.com", "candidate id c1",
    "this is Priya Nair, what's the status of my machine learning engineer application",
    '/check_status{"role": "Machine Learning Engineer"}', "/identify",
])
def test_an_impostor_naming_a_real_candidate_learns_nothing(stack, claim):
    reply = stack.text(STRANGER, claim)
    assert reply.status == 200
    leaked = [secret for secret in PRIYA_SECRETS if secret in reply.text]
    assert leaked == [], f"{claim!r} leaked {leaked}: {reply.text}"


def test_uncommunicated_rejection_is_not_broken_by_the_bot(stack):
    reply = stack.text(MEI, "did i get the job?")
    assert "asked your recruiter to get in touch" in reply.text
    assert "reject" not in reply.text.lower() and "Portfolio Review" not in reply.text


def test_no_applications_is_said_kindly(stack):
    assert "can't find an application from you" in stack.text(NORA, "status?").text


def test_greeting_help_bot_question_and_a_person(stack):
    sender = "+16175550199"
    assert "careers assistant" in stack.text(sender, "hi there").text
    assert "automated assistant, not a person" in stack.text(sender, "r u a bot?").text
    assert "What would you like to do?" in stack.text(sender, "what can you do?").text
    assert "asked the recruiting team to get back to you" in stack.text(sender, "can I talk to a real person").text


# --- signatures ---------------------------------------------------------------------------------

def _refused_without_trace(stack, phone, reply):
    assert reply.status == 403
    assert reply.messages == []
    assert stack.user_messages(phone) == []  # nothing reached Rasa


def test_missing_signature_is_refused(stack):
    params = inbound_params("+16175550161", "where's my application?")
    _refused_without_trace(stack, "+16175550161", stack.post(params, signature=None))


def test_signature_with_the_wrong_token_is_refused(stack):
    params = inbound_params("+16175550162", "where's my application?")
    _refused_without_trace(stack, "+16175550162", stack.post(params, stack.sign(params, token="not-the-token")))


def test_tampered_body_is_refused(stack):
    params = inbound_params("+16175550163", "hello")
    signature = stack.sign(params)
    params["From"] = PRIYA  # a forger swaps in a real candidate's number after signing
    reply = stack.post(params, signature)
    assert reply.status == 403 and "Technical Interview" not in reply.body


def test_signature_over_another_url_is_refused(stack):
    params = inbound_params("+16175550164", "hi")
    _refused_without_trace(stack, "+16175550164",
                           stack.post(params, stack.sign(params, url=stack.stack.sms_webhook_url)))


def test_signed_request_without_a_sender_is_a_clear_400(stack):
    params = {"MessageSid": "SMnofrom", "Body": "hi"}
    reply = stack.post(params, stack.sign(params))
    assert reply.status == 400 and "From" in reply.body


def test_json_body_is_refused(stack):
    reply = stack.post({}, signature="x", content_type="application/json", body=b'{"From": "+16175550101"}')
    assert reply.status == 403


# --- Twilio behaviour ---------------------------------------------------------------------------

def test_a_redelivered_message_sid_is_processed_once(stack):
    sender = "+16175550171"
    first = stack.text(sender, "hello", message_sid="SMduplicate0001")
    again = stack.text(sender, "hello", message_sid="SMduplicate0001")
    assert first.status == again.status == 200
    assert again.body == first.body and first.messages
    assert stack.user_messages(sender) == ["hello"]


def test_a_redelivery_while_the_first_is_in_flight_gets_the_same_answer(stack):
    sender = "+16175550174"
    params = inbound_params(sender, "hi there", message_sid="SMinflight0001")
    signature = stack.sign(params)
    with ThreadPoolExecutor(max_workers=2) as pool:
        replies = list(pool.map(lambda _: stack.post(params, signature), range(2)))
    assert [reply.status for reply in replies] == [200, 200]
    assert replies[0].body == replies[1].body and "careers assistant" in replies[0].text
    assert stack.user_messages(sender) == ["hi there"]


def test_stop_start_and_help_keywords(stack):
    sender = "+16175550172"
    assert "you're unsubscribed" in stack.text(sender, "STOP").text
    silenced = stack.text(sender, "hello?")
    assert silenced.status == 200 and silenced.messages == []
    assert "Acme Robotics Careers" in stack.text(sender, "HELP").text  # HELP is always answered
    assert "you're subscribed again" in stack.text(sender, "yes").text
    assert "careers assistant" in stack.text(sender, "hi").text
    assert "hello?" not in stack.user_messages(sender)  # nothing from the opted-out period reached the bot


def test_empty_huge_and_odd_messages_get_clear_answers(stack):
    sender = "+16175550173"
    assert "only read text messages" in stack.text(sender, "").text
    huge = stack.text(sender, "where is my application " * 2000)
    assert huge.status == 200 and huge.messages
    odd = stack.text(sender, "\u202e\u0000\ufeff\U0001F600 \u0645\u0631\u062d\u0628\u0627")
    assert odd.status == 200 and odd.messages


def test_ats_outage_gets_a_quick_apology_and_recovers(stack):
    blocker = sqlite3.connect(stack.workdir / "ats.db")
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        reply = stack.text(PRIYA, "any update?")
        elapsed = time.monotonic() - started
    finally:
        blocker.rollback()
        blocker.close()
    assert "can't reach our application system" in reply.text and "Talk to a recruiter" in reply.text
    assert elapsed < 8
    assert "Technical Interview stage" in stack.text(PRIYA, "any update?").text


def test_logs_hold_no_phone_numbers_or_message_text(stack):
    stack.text(PRIYA, "where is my application, my email is priya@example.com")
    logs = "".join(path.read_text(errors="replace") for path in (stack.workdir / "logs").glob("*.log"))
    assert logs, "expected server logs"
    for private in ("6175550101", "priya@example.com", "my email is", "Priya Nair"):
        assert private not in logs
