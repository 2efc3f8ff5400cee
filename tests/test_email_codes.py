"""One-time email codes on real SQLite, the mailer's local outbox, and the verification form's actions."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import re
import smtplib
import ssl
import threading

import pytest
import socketio
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import services as services_module
from actions.services import sender_of
from actions.verification import ActionVerificationDone, ValidateEmailVerificationForm
from bot.email_codes import MAX_TRIES, CodeLimits, EmailCodes, Mailer, code_in, email_in
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
    await emails_sent()  # in the background, after the reply
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
    await emails_sent()
    assert not (web_env / "outbox").exists() or not list((web_env / "outbox").glob("*.eml"))


async def test_not_an_email_is_asked_again(web_env):
    dispatcher = CollectingDispatcher()
    slots = await ValidateEmailVerificationForm().validate_verification_email(
        "my name is priya", dispatcher, web_tracker("my name is priya"), {})
    assert slots == {"verification_email": None} and "doesn't look like an email" in dispatcher.messages[0]["text"]


# --- findings 3 and 6 of the security review ------------------------------------------------------

KNOWN, UNKNOWN = "priya@example.com", "nobody@example.org"


def client_tracker(text: str, client_key: str, sender_id: str) -> Tracker:
    """A web message as channels/web.py builds it: the pseudonymous client key in the metadata."""
    latest = {"text": text, "intent": {"name": "inform_time", "confidence": 0.9}, "entities": [],
              "metadata": {"client_key": client_key}}
    events = [{"event": "user", "text": text, "parse_data": latest, "input_channel": "web",
               "metadata": {"client_key": client_key}}]
    return Tracker(sender_id, {}, latest, events, False, None, {"name": "email_verification_form"}, "action_listen")


async def ask_for_a_code(address: str, conversation: str) -> tuple[dict, list[str]]:
    dispatcher = CollectingDispatcher()
    slots = await ValidateEmailVerificationForm().validate_verification_email(
        address, dispatcher, client_tracker(address, "c" * 32, conversation), {})
    return ({k: v and v.replace(address, "<email>") for k, v in slots.items()},
            [m["text"].replace(address, "<email>") for m in dispatcher.messages])


async def emails_sent() -> None:
    await services_module.services().code_sender.idle()


async def test_the_reply_is_the_same_for_a_known_email_an_unknown_one_and_a_failing_mailer(web_env, monkeypatch,
                                                                                            caplog):
    known = await ask_for_a_code(KNOWN, "webanon-" + "1" * 32)
    unknown = await ask_for_a_code(UNKNOWN, "webanon-" + "2" * 32)

    def refused(*_args, **_kwargs):
        raise smtplib.SMTPRecipientsRefused({})

    monkeypatch.setattr(Mailer, "send_code", refused)
    failing = await ask_for_a_code("james.carter@example.com", "webanon-" + "3" * 32)
    assert known == unknown == failing
    assert "sent a 6-digit code" in known[1][0]
    await emails_sent()
    assert "james.carter@example.com" not in caplog.text and "james" not in caplog.text


async def test_the_form_answers_without_waiting_for_the_email_to_go_out(web_env, monkeypatch):
    release, entered = threading.Event(), threading.Event()
    sent = []

    def slow_mailer(_self, to, code, company, minutes):
        entered.set()
        release.wait(10)
        sent.append(to)
        return "smtp"

    monkeypatch.setattr(Mailer, "send_code", slow_mailer)
    try:
        slots, _ = await asyncio.wait_for(ask_for_a_code(KNOWN, "webanon-" + "4" * 32), 5)  # a guard, not a timing
        assert slots == {"verification_email": "<email>"} and sent == []
    finally:
        release.set()
    await emails_sent()
    assert sent == [KNOWN]


async def test_a_code_for_an_email_on_no_application_is_never_sent_and_never_verifies(web_env, monkeypatch):
    codes_sent = []
    monkeypatch.setattr(Mailer, "send_code", lambda _self, to, code, *_: codes_sent.append(code) or "smtp")
    conversation = "webanon-" + "5" * 32
    await ask_for_a_code(UNKNOWN, conversation)
    await emails_sent()
    assert codes_sent == []
    codes = services_module.services().email_codes
    assert all(codes.check(conversation, f"{n:06d}").email is None for n in range(3))


def test_one_client_address_gets_a_limited_number_of_codes_whatever_the_conversation(state_engine):
    codes = EmailCodes(state_engine, "test-key", limits=CodeLimits(per_client=4))
    for n in range(4):
        assert not codes.rate_limited(f"web-{n}", f"person{n}@example.com", now=NOW, client_key="evil")
        codes.issue(f"web-{n}", f"person{n}@example.com", True, now=NOW, client_key="evil")
    assert codes.rate_limited("web-new", "someone@example.com", now=NOW, client_key="evil")
    assert not codes.rate_limited("web-new", "someone@example.com", now=NOW, client_key="home")
    assert not codes.rate_limited("web-new", "someone@example.com", now=NOW + dt.timedelta(hours=1, seconds=1),
                                  client_key="evil")


def test_all_clients_together_get_a_limited_number_of_codes_an_hour(state_engine):
    codes = EmailCodes(state_engine, "test-key", limits=CodeLimits(per_hour=3))
    for n in range(3):
        codes.issue(f"web-{n}", f"person{n}@example.com", True, now=NOW, client_key=f"client-{n}")
    assert codes.rate_limited("web-new", "someone@example.com", now=NOW, client_key="client-new")


def test_asking_again_and_again_for_someones_code_does_not_stop_them_asking_from_their_own_client(state_engine):
    codes = EmailCodes(state_engine, "test-key")
    for n in range(5):
        codes.issue(f"web-evil-{n}", KNOWN, True, now=NOW, client_key="evil")
    assert codes.rate_limited("web-evil-new", KNOWN, now=NOW, client_key="evil")
    assert not codes.rate_limited("web-owner", KNOWN, now=NOW, client_key="home")


def test_wrong_guesses_lock_out_the_guessing_client_but_never_the_owner(state_engine):
    codes = EmailCodes(state_engine, "test-key", limits=CodeLimits(max_failures=6))
    for round_ in range(2):  # two codes, each guessed until its tries run out, each in a fresh conversation
        conversation = f"web-evil-{round_}"
        code = codes.issue(conversation, KNOWN, True, now=NOW, client_key="evil")
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        for _ in range(3):
            codes.check(conversation, wrong, now=NOW, client_key="evil")
    assert codes.rate_limited("web-evil-2", KNOWN, now=NOW, client_key="evil")
    code = codes.issue("web-evil-3", "other@example.com", True, now=NOW)  # asked before the lockout, say
    assert codes.check("web-evil-3", code, now=NOW, client_key="evil").reason == "locked"
    assert not codes.rate_limited("web-owner", KNOWN, now=NOW, client_key="home")
    owners = codes.issue("web-owner", KNOWN, True, now=NOW, client_key="home")
    assert codes.check("web-owner", owners, now=NOW, client_key="home").email == KNOWN
    assert not codes.rate_limited("web-evil-4", KNOWN, now=NOW + dt.timedelta(days=1, seconds=1), client_key="evil")


def test_wrong_guesses_lock_out_a_conversation_whatever_its_clients(state_engine):
    codes = EmailCodes(state_engine, "test-key", limits=CodeLimits(max_failures=4))
    for n in range(2):
        code = codes.issue("web-1", KNOWN, True, now=NOW, client_key=f"hop-{n}")
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        for _ in range(2):
            codes.check("web-1", wrong, now=NOW, client_key=f"hop-{n}")
    assert codes.rate_limited("web-1", KNOWN, now=NOW, client_key="hop-3")


def test_a_web_verification_by_code_lasts_a_bounded_time(state_engine):
    codes = EmailCodes(state_engine, "test-key", limits=CodeLimits(verification=dt.timedelta(days=30)))
    code = codes.issue("web-1", KNOWN, True, now=NOW)
    codes.check("web-1", code, now=NOW)
    assert codes.verified_email("web-1", now=NOW + dt.timedelta(days=29)) == KNOWN
    assert not codes.verification_expired("web-1", now=NOW + dt.timedelta(days=29))
    assert codes.verified_email("web-1", now=NOW + dt.timedelta(days=30, seconds=1)) is None
    assert codes.verification_expired("web-1", now=NOW + dt.timedelta(days=30, seconds=1))
    assert not codes.verification_expired("web-never-verified", now=NOW + dt.timedelta(days=300))


def test_the_limits_come_from_settings(monkeypatch):
    monkeypatch.setenv("EMAIL_CODE_LIMIT_PER_CLIENT", "7")
    monkeypatch.setenv("EMAIL_CODE_MAX_FAILURES", "8")
    monkeypatch.setenv("WEB_VERIFICATION_DAYS", "2")
    limits = CodeLimits.from_settings(Settings.from_env())
    assert (limits.per_client, limits.per_hour, limits.max_failures, limits.verification) == (
        7, 500, 8, dt.timedelta(days=2))
    assert CodeLimits() == CodeLimits(per_client=10, per_hour=500, max_failures=10,
                                      verification=dt.timedelta(days=30))


# --- SMTP with TLS that checks certificates (finding 6) ------------------------------------------

class RecordingSMTP:
    """Stands in for smtplib.SMTP / SMTP_SSL: records what the mailer asks of the connection."""

    made: list[RecordingSMTP] = []

    def __init__(self, host, port, timeout=None, context=None, **_):
        self.host, self.port, self.context, self.starttls_context = host, port, context, None
        self.messages = []
        RecordingSMTP.made.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        return False

    def starttls(self, context=None, **_):
        self.starttls_context = context

    def login(self, *_):
        pass

    def send_message(self, message):
        self.messages.append(message)


def verifies(context) -> bool:
    return isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


@pytest.fixture()
def recorded_smtp(monkeypatch):
    RecordingSMTP.made = []
    monkeypatch.setattr(smtplib, "SMTP", RecordingSMTP)
    monkeypatch.setattr(smtplib, "SMTP_SSL", RecordingSMTP)
    monkeypatch.setenv("SMTP_HOST", "mail.example.com")
    for name in ("SMTP_TLS", "SMTP_STARTTLS", "SMTP_PORT"):
        monkeypatch.delenv(name, raising=False)
    return RecordingSMTP.made


def test_starttls_checks_the_mail_servers_certificate(recorded_smtp):
    Mailer(Settings.from_env()).send_code(KNOWN, "482913", "Acme Robotics", 10)
    [smtp] = recorded_smtp
    assert (smtp.host, smtp.port) == ("mail.example.com", 587) and verifies(smtp.starttls_context)
    assert len(smtp.messages) == 1


def test_implicit_tls_connects_with_a_verifying_context_on_port_465(recorded_smtp, monkeypatch):
    monkeypatch.setenv("SMTP_TLS", "tls")
    Mailer(Settings.from_env()).send_code(KNOWN, "482913", "Acme Robotics", 10)
    [smtp] = recorded_smtp
    assert smtp.port == 465 and verifies(smtp.context) and smtp.starttls_context is None


def test_smtp_without_tls_is_refused_unless_the_mail_server_is_on_this_machine(recorded_smtp, monkeypatch):
    monkeypatch.setenv("SMTP_TLS", "none")
    with pytest.raises(ValueError, match="SMTP_TLS=none"):
        Settings.from_env()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    Mailer(Settings.from_env()).send_code(KNOWN, "482913", "Acme Robotics", 10)
    [smtp] = recorded_smtp
    assert smtp.starttls_context is None and smtp.context is None
    monkeypatch.setenv("SMTP_TLS", "sometimes")
    with pytest.raises(ValueError, match="SMTP_TLS"):
        Settings.from_env()


def test_the_old_smtp_starttls_false_still_means_no_tls(monkeypatch):
    monkeypatch.delenv("SMTP_TLS", raising=False)
    monkeypatch.setenv("SMTP_STARTTLS", "false")
    monkeypatch.setenv("SMTP_HOST", "localhost")
    assert Settings.from_env().smtp_tls == "none"
    monkeypatch.setenv("SMTP_HOST", "mail.example.com")
    with pytest.raises(ValueError):
        Settings.from_env()


def test_an_older_state_database_gets_the_new_column(tmp_path):
    import sqlite3

    from bot.store import open_state_db

    with sqlite3.connect(tmp_path / "state.db") as db:  # email_codes as it was before client addresses
        db.execute("CREATE TABLE email_codes (id INTEGER PRIMARY KEY, conversation_id VARCHAR NOT NULL, email VARCHAR "
                   "NOT NULL, code_hash VARCHAR, created_at DATETIME NOT NULL, expires_at DATETIME NOT NULL, tries "
                   "INTEGER NOT NULL, used_at DATETIME)")
    codes = EmailCodes(open_state_db(tmp_path / "state.db"), "test-key")
    code = codes.issue("web-1", KNOWN, True, now=NOW, client_key="c" * 32)
    assert codes.check("web-1", code, now=NOW, client_key="c" * 32).email == KNOWN


# --- the web channel: an old session id whose verification ran out is not resumed ----------------

async def session_confirmed_for(url: str, session_id: str) -> dict:
    client = socketio.AsyncClient(reconnection=False)
    confirmed: asyncio.Future = asyncio.get_running_loop().create_future()
    client.on("session_confirm", lambda data: confirmed.done() or confirmed.set_result(data))
    await client.connect(url, transports=["polling"], socketio_path="/socket.io", wait_timeout=10)
    try:
        await client.emit("session_request", {"session_id": session_id})
        return await asyncio.wait_for(confirmed, 10)
    finally:
        await client.disconnect()


async def test_an_old_session_id_whose_code_verification_ran_out_opens_a_fresh_conversation(tmp_path, monkeypatch):
    from sanic import Sanic

    from bot.store import open_state_db
    from channels.web import WebChat
    from tests.test_channel_limits import FakeRasa, serving

    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setenv("STATE_DATABASE", str(tmp_path / "state.db"))
    monkeypatch.setenv("ATS_DATABASE", str(tmp_path / "ats.db"))
    codes = EmailCodes(open_state_db(tmp_path / "state.db"), "test-key")
    now = dt.datetime.now(UTC)
    for session_id, verified_at in (("e" * 32, now - dt.timedelta(days=31)), ("f" * 32, now - dt.timedelta(days=1))):
        code = codes.issue(f"webanon-{session_id}", KNOWN, True, now=verified_at)
        assert codes.check(f"webanon-{session_id}", code, now=verified_at).reason == "verified"
    async with serving(WebChat(Settings.from_env()), FakeRasa()) as url:
        expired = await session_confirmed_for(url, "e" * 32)
        recent = await session_confirmed_for(url, "f" * 32)
    assert expired["session_id"] != "e" * 32 and len(expired["session_id"]) == 32
    assert recent["session_id"] == "f" * 32
