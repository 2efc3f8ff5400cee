"""One-time email codes on real SQLite, the mailer's local outbox, and the verification form's actions."""

from __future__ import annotations

import datetime as dt
import email
import re

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import services as services_module
from actions.services import sender_of
from actions.verification import ActionVerificationDone, ValidateEmailVerificationForm
from bot.email_codes import MAX_TRIES, EmailCodes, Mailer, code_in, email_in
from bot.settings import Settings
from tests.conftest import DEMO_SEED

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 26, 15, tzinfo=UTC)


@pytest.fixture()
def codes(state_engine) -> EmailCodes:
    return EmailCodes(state_engine, "test-key")


def test_reading_an_email_and_a_code_from_what_people_type():
    assert email_in("it's Priya@Example.com thanks") == "priya@example.com"
    assert email_in("my email is priya at example dot com") is None
    assert code_in("482913") == "482913" and code_in("code: 482 913") == "482913" and code_in("482-913") == "482913"
    assert code_in("12345") is None and code_in("call me at 6175550101") is None


def test_a_code_verifies_once(codes):
    code = codes.issue("web-1", "priya@example.com", on_an_application=True, now=NOW)
    assert codes.check("web-1", code, now=NOW + dt.timedelta(minutes=1)).email == "priya@example.com"
    assert codes.verified_email("web-1") == "priya@example.com"
    assert codes.check("web-1", code, now=NOW + dt.timedelta(minutes=2)).reason == "no_code"  # used up


def test_a_code_expires_and_a_new_one_replaces_the_old(codes):
    old = codes.issue("web-1", "priya@example.com", True, now=NOW)
    assert codes.check("web-1", old, now=NOW + dt.timedelta(minutes=11)).reason == "expired"
    first = codes.issue("web-2", "priya@example.com", True, now=NOW)
    second = codes.issue("web-2", "priya@example.com", True, now=NOW + dt.timedelta(seconds=5))
    if first != second:
        assert codes.check("web-2", first, now=NOW + dt.timedelta(seconds=6)).reason == "wrong"
    assert codes.check("web-2", second, now=NOW + dt.timedelta(seconds=7)).reason == "verified"


def test_wrong_codes_are_limited(codes):
    code = codes.issue("web-1", "priya@example.com", True, now=NOW)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    reasons = [codes.check("web-1", wrong, now=NOW).reason for _ in range(MAX_TRIES)]
    assert reasons == ["wrong"] * (MAX_TRIES - 1) + ["too_many_tries"]
    assert codes.check("web-1", code, now=NOW).reason == "too_many_tries"  # even the right one, now
    assert codes.verified_email("web-1") is None


def test_an_email_on_no_application_gets_no_code_and_no_verification(codes):
    assert codes.issue("web-1", "stranger@example.com", on_an_application=False, now=NOW) is None
    assert codes.check("web-1", "123456", now=NOW).reason == "wrong"
    assert codes.verified_email("web-1") is None


def test_asking_for_codes_is_rate_limited(codes):
    for n in range(3):
        assert not codes.rate_limited("web-1", "priya@example.com", now=NOW + dt.timedelta(minutes=n))
        codes.issue("web-1", "priya@example.com", True, now=NOW + dt.timedelta(minutes=n))
    assert codes.rate_limited("web-1", "priya@example.com", now=NOW + dt.timedelta(minutes=4))
    assert not codes.rate_limited("web-1", "priya@example.com", now=NOW + dt.timedelta(minutes=20))
    for n in range(5):  # many conversations asking for the same address
        codes.issue(f"web-x{n}", "dana@example.com", True, now=NOW)
    assert codes.rate_limited("web-new", "dana@example.com", now=NOW)


def test_without_smtp_the_email_lands_in_the_outbox_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("EMAIL_OUTBOX_DIR", str(tmp_path / "outbox"))
    where = Mailer(Settings.from_env()).send_code("priya@example.com", "482913", "Acme Robotics", 10)
    message = email.message_from_bytes((tmp_path / "outbox").joinpath(where.split("/")[-1]).read_bytes())
    assert message["To"] == "priya@example.com" and "482913" in message["Subject"]
    assert "expires in 10 minutes" in message.get_payload()


# --- the form's validation, with rasa-sdk's own Tracker ------------------------------------------

@pytest.fixture()
def web_env(tmp_path, monkeypatch):
    for name, value in {"ATS_DATABASE": tmp_path / "ats.db", "ATS_SEED_FILE": DEMO_SEED,
                        "STATE_DATABASE": tmp_path / "state.db", "EMAIL_OUTBOX_DIR": tmp_path / "outbox"}.items():
        monkeypatch.setenv(name, str(value))
    services_module.reset_services()
    yield tmp_path
    services_module.reset_services()


def web_tracker(text: str, sender_id: str = "webanon-" + "a" * 32) -> Tracker:
    latest = {"text": text, "intent": {"name": "inform_time", "confidence": 0.9}, "entities": [], "metadata": {}}
    events = [{"event": "user", "text": text, "parse_data": latest, "input_channel": "web", "metadata": {}}]
    return Tracker(sender_id, {}, latest, events, False, None, {"name": "email_verification_form"}, "action_listen")


async def test_the_form_sends_a_code_and_a_right_code_verifies_the_conversation(web_env):
    form = ValidateEmailVerificationForm()
    dispatcher = CollectingDispatcher()
    slots = await form.validate_verification_email("hi, it's priya@example.com", dispatcher,
                                                   web_tracker("priya@example.com"), {})
    assert slots == {"verification_email": "priya@example.com"}
    assert "I've just sent a 6-digit code" in dispatcher.messages[0]["text"]
    [sent] = list((web_env / "outbox").glob("*.eml"))
    code = re.search(r"code: (\d{6})", email.message_from_bytes(sent.read_bytes())["Subject"]).group(1)
    assert sender_of(web_tracker("hello")) is None
    wrong = await form.validate_verification_code("000000" if code != "000000" else "111111", CollectingDispatcher(),
                                                  web_tracker("000000"), {})
    assert wrong == {"verification_code": None}
    right = await form.validate_verification_code(code, CollectingDispatcher(), web_tracker(code), {})
    assert right == {"verification_code": "verified"}
    assert sender_of(web_tracker("where's my application?")).email == "priya@example.com"
    done = CollectingDispatcher()
    await ActionVerificationDone().run(done, web_tracker(code), {})
    assert done.messages[0]["text"] == "Thanks, that's you verified."


async def test_an_email_on_no_application_looks_the_same_and_sends_nothing(web_env):
    dispatcher = CollectingDispatcher()
    slots = await ValidateEmailVerificationForm().validate_verification_email(
        "nobody@example.org", dispatcher, web_tracker("nobody@example.org"), {})
    assert slots == {"verification_email": "nobody@example.org"}
    assert dispatcher.messages[0]["text"].startswith("If nobody@example.org is on an application with us, I've just")
    assert not (web_env / "outbox").exists() or not list((web_env / "outbox").glob("*.eml"))


async def test_not_an_email_is_asked_again(web_env):
    dispatcher = CollectingDispatcher()
    slots = await ValidateEmailVerificationForm().validate_verification_email(
        "my name is priya", dispatcher, web_tracker("my name is priya"), {})
    assert slots == {"verification_email": None} and "doesn't look like an email" in dispatcher.messages[0]["text"]
