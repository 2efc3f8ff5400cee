"""Who a web visitor is and which conversation is theirs (bot/webchat.py, bot/identity.py)."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest

from bot.identity import VERIFIED_EMAIL_KEY, verified_metadata, verified_sender
from bot.sms import MAX_MESSAGE_CHARS
from bot.webchat import (
    InvalidToken,
    SeenMessages,
    clean_message,
    email_from_token,
    history,
    signed_token,
    visitor_for,
)

SECRET = "careers-site-shared-secret-for-unit-tests"
UTC = dt.timezone.utc


def test_a_careers_site_token_proves_an_email():
    assert email_from_token(signed_token("Priya@Example.com ", SECRET), SECRET) == "priya@example.com"


@pytest.mark.parametrize("token", [
    signed_token("priya@example.com", "another-secret-of-sufficient-length!!"),
    signed_token("priya@example.com", SECRET, now=dt.datetime.now(UTC) - dt.timedelta(hours=2)),
    jwt.encode({"email": "priya@example.com"}, SECRET, algorithm="HS256"),  # no expiry
    jwt.encode({"exp": dt.datetime.now(UTC) + dt.timedelta(hours=1)}, SECRET, algorithm="HS256"),  # no email
    jwt.encode({"email": "priya@example.com", "exp": dt.datetime.now(UTC) + dt.timedelta(hours=1)}, SECRET,
               algorithm="HS512"),  # an algorithm we do not accept
    jwt.encode({"email": "priya@example.com", "exp": dt.datetime.now(UTC) + dt.timedelta(hours=1)}, None,
               algorithm="none"),
    "garbage",
])
def test_forged_expired_or_incomplete_tokens_are_refused(token):
    with pytest.raises(InvalidToken):
        email_from_token(token, SECRET)


def test_verified_and_anonymous_conversations_never_share_a_name():
    verified = visitor_for("priya@example.com", None, "key")
    assert verified == visitor_for("priya@example.com", "0" * 32, "key")  # the browser cannot choose it
    assert verified.conversation_id.startswith("web-") and verified.email == "priya@example.com"
    assert visitor_for("priya@example.com", None, "other-key").conversation_id != verified.conversation_id
    impostor = visitor_for(None, verified.session_id, "key")
    assert impostor.conversation_id == f"webanon-{verified.session_id}" != verified.conversation_id
    fresh = visitor_for(None, "../etc/passwd", "key")
    assert len(fresh.session_id) == 32 and fresh.email is None


def test_only_the_web_channel_vouches_for_an_email():
    conversation = visitor_for("priya@example.com", None, "key").conversation_id
    sealed = verified_metadata("key", "web", conversation, email="priya@example.com")
    assert verified_sender("web", sealed, conversation, "key").email == "priya@example.com"
    assert verified_sender("rest", sealed, conversation, "key") is None
    assert verified_sender("twilio", sealed, conversation, "key") is None
    assert verified_sender("web", {VERIFIED_EMAIL_KEY: "priya@example.com"}, conversation, "key") is None
    assert verified_sender("web", {"verified_phone": "+16175550101"}, conversation, "key") is None


def test_a_resent_message_is_seen_once(state_engine):
    seen = SeenMessages(state_engine)
    assert seen.first_time("web-1", "m-1") and not seen.first_time("web-1", "m-1")
    assert seen.first_time("web-2", "m-1")


def test_messages_are_cleaned_but_never_cut_short():
    assert clean_message("  hi\u0000 there\u200b ") == "hi there"
    assert clean_message("   ") is None and clean_message(None) is None and clean_message({"a": 1}) is None
    assert len(clean_message("x" * 10_000)) == 10_000 > MAX_MESSAGE_CHARS  # refused whole by the channel


def test_history_shows_pressed_buttons_by_title_and_only_the_last_buttons():
    events = [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "hello"},
        {"event": "bot", "text": "Hi!", "data": {"buttons": [{"title": "Where's my application?",
                                                              "payload": "/check_status"}]}},
        {"event": "user", "text": "/check_status"},
        {"event": "bot", "text": "Your application...", "data": {"buttons": [{"title": "Talk to a recruiter",
                                                                               "payload": "/request_human"}]}},
        {"event": "user", "text": "/unknown_payload"},
    ]
    shown = history(events)
    assert [(m["sender"], m["text"]) for m in shown] == [
        ("user", "hello"), ("bot", "Hi!"), ("user", "Where's my application?"), ("bot", "Your application...")]
    assert "quick_replies" not in shown[1]
    assert shown[-1]["quick_replies"] == [{"title": "Talk to a recruiter", "payload": "/request_human"}]


def test_a_message_still_being_answered_is_not_taken_over_however_slow(state_engine):
    import datetime as dt

    from bot.clock import now_utc
    from bot.webchat import ANSWER_LEASE, SeenMessages

    seen, now = SeenMessages(state_engine), now_utc()
    assert seen.first_time("web-1", "msg-00000002", now=now)
    for beat in range(1, 6):  # the server answering it renews its claim every few seconds, well past the lease
        seen.renew("web-1", "msg-00000002", now=now + beat * ANSWER_LEASE / 3)
        assert not seen.take_over("web-1", "msg-00000002", now=now + beat * ANSWER_LEASE / 3 + dt.timedelta(seconds=1))
    assert not seen.is_answered("web-1", "msg-00000002")
    seen.answered("web-1", "msg-00000002")
    assert seen.is_answered("web-1", "msg-00000002")
    assert not seen.take_over("web-1", "msg-00000002", now=now + 100 * ANSWER_LEASE)


def test_a_message_whose_server_died_is_processed_again_when_resent(state_engine):
    import datetime as dt

    from bot.clock import now_utc
    from bot.webchat import ANSWER_LEASE, SeenMessages

    seen, now = SeenMessages(state_engine), now_utc()
    assert seen.first_time("web-1", "msg-00000001", now=now)
    assert not seen.first_time("web-1", "msg-00000001", now=now + dt.timedelta(seconds=1))  # still being answered
    later = now + ANSWER_LEASE + dt.timedelta(seconds=1)  # never answered: its server died
    assert seen.first_time("web-1", "msg-00000001", now=later)
    assert not seen.first_time("web-1", "msg-00000001", now=later)  # taken over once
    seen.answered("web-1", "msg-00000001")
    assert not seen.first_time("web-1", "msg-00000001", now=later + 10 * ANSWER_LEASE)  # answered: never again
