"""Fuzzing every webhook with hypothesis: random and malformed bodies, huge ones, odd Unicode (lone surrogates
too, as JSON escapes and as raw invalid UTF-8), wrong content types, missing fields, and forged, tampered,
stale or replayed signatures. Each answer is a clear 4xx or a proper answer, never a 5xx; nothing forged is
processed; and the servers still hold a normal conversation afterwards.

Twilio SMS, the generic ATS webhook, calendar invites and the web chat are fuzzed on the session's real
stack. That stack configures neither Slack nor the Greenhouse and Lever webhooks (they answer 503, checked
here), so those three are fuzzed on `webhook_server`: the Rasa server app exactly as `rasa run` builds it
from credentials.yml (rasa.core.run.configure_app), with Slack, Greenhouse and Lever configured, started
without loading the model. What they do with a request (signature check, parsing, queueing) needs no
model, and a second full stack would cost another minute. Greenhouse's and Lever's checks are also fuzzed
as the pure functions in bot/ats_webhooks.py, which is cheap enough for many more examples.

Crashes this file found and that are fixed keep a regression test each (`test_fixed_crash_*` /
`test_fixed_hang_*`, with the smallest input), and the property tests generate those inputs too:
python-engineio's own two (a POST to a just-closed polling session, a packet type a client must not send),
answered 400 by channels/web.py's GuardedEngineIO, and signed-but-malformed Slack requests, answered 400 by
channels/recruiter_slack.py's shape checks and error handler.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
import requests
import socketio
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.ats_webhooks import (
    GREENHOUSE_ACTIONS,
    LEVER_EVENTS,
    MAX_EVENTS,
    REPLAY_WINDOW_SECONDS,
    StageNotice,
    WebhookRefused,
    generic_notices,
    generic_signature,
    greenhouse_notices,
    lever_notices,
)
from bot.handoff_cards import CLAIM, CLOSE, HAND_BACK
from bot.phone import normalise_phone
from bot.settings import PROJECT_ROOT
from bot.sms import is_too_long
from bot.twilio_webhook import inbound_params, twiml_messages
from bot.webchat import ANONYMOUS_ID, MESSAGE_ID, clean_message
from tests.fakes import slack_signing
from tests.stack_fixture import (
    ATS_WEBHOOK_SECRET,
    DEMO_SEED,
    SLACK_SIGNING_SECRET,
    WEB_JWT_SECRET,
    free_port,
    slack_env,
)

pytestmark = pytest.mark.integration

FUZZ = settings(
    max_examples=60, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example],
)
FORGED_PHONE = "+16175550181"  # forged requests claim to come from here: nothing may reach its conversation
OPS_TOKEN = secrets.token_hex(16)  # the webhook server's status pages show their queue counts with it
FUZZ_PHONE = "+16175550182"  # signed garbage that is a valid message is processed for this number
REPLAY_PHONE = "+16175550183"
HEALTH_PHONE = "+16175550184"  # the "still answers" checks; never fuzzed, so never opted out
GREENHOUSE_SECRET = "greenhouse-secret-key-for-fuzzing"
LEVER_TOKEN = "lever-signature-token-for-fuzzing"
DEMO_APPLICATION_ID = re.compile(r"^c\d+-j\d+-\d+$")  # the seed's ids: fuzzed events never name a real one
CANDIDATE_BUTTON = "candidate_reply_1"  # channels/candidate_slack.py BUTTON_ACTION (that module imports Rasa)
SLACK_FIELDS = {"channel", "user", "team", "enterprise", "authorizations", "event", "view", "message", "item",
                "previous_message", "assistant_thread", "response_urls", "function_data", "ssl_check", "type",
                "payload", "challenge", "actions", "container"}

# --- strategies ------------------------------------------------------------------------------------------

ODD_STRINGS = ["", " ", "\x00", "\u202e", "\ufeff", "\u200b\u200d", "e\u0301\u0301\u0301", "👩🏽‍💻", "ℌ𝔢𝔩𝔩𝔬",
               "ＳＴＡＴＵＳ", "\r\n", "\U0010ffff", "﷽", "𒐫", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇", "NaN", "null", "{}", "[]", "%00", "&=&="]
ODD_CATEGORIES = ["Cc", "Cf", "Co", "Zs", "Zl", "Zp", "Mn", "Me", "So", "Lo", "Nd"]


def plain_text(max_size: int = 60) -> st.SearchStrategy[str]:
    """Any Unicode a sender can encode: no lone surrogates (those have their own strategy below)."""
    return st.one_of(st.text(max_size=max_size), st.sampled_from(ODD_STRINGS),
                     st.text(st.characters(categories=ODD_CATEGORIES), max_size=max_size))


def odd_text(max_size: int = 60) -> st.SearchStrategy[str]:
    """Like plain_text, plus lone surrogates (a JSON escape can carry them; UTF-8 cannot)."""
    return st.one_of(plain_text(max_size), st.text(st.characters(categories=["Cs", *ODD_CATEGORIES]), max_size=20))


ascii_header = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=80)


def json_values(text: st.SearchStrategy[str]) -> st.SearchStrategy:
    # Integers stay far below 4300 digits (past which json.loads raises a bare ValueError: its own fixed-crash test).
    scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | text
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                        max_leaves=10)


def encode_json(value, raw_utf8: bool = False) -> bytes:
    """JSON as ASCII with escapes, or as raw UTF-8 where a lone surrogate becomes invalid UTF-8."""
    return json.dumps(value, ensure_ascii=not raw_utf8).encode("utf-8", "surrogatepass")


def encode_form(fields: dict[str, str]) -> bytes:
    return urllib.parse.urlencode(fields, encoding="utf-8", errors="surrogatepass").encode()


def repeat_to(unit: bytes, size: int) -> bytes:
    return (unit * (size // len(unit) + 1))[:size]


invalid_utf8 = st.builds(lambda before, bad, after: before + bad + after, st.binary(max_size=40),
                         st.sampled_from([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80",
                                          b"\xe2\x82", b"\xfe\xff"]), st.binary(max_size=40))
huge_bodies = st.builds(repeat_to, st.binary(min_size=1, max_size=16), st.integers(1_050_000, 1_600_000))
any_body = st.one_of(
    st.binary(max_size=600),
    invalid_utf8,
    huge_bodies,
    st.builds(encode_json, json_values(odd_text()), st.booleans()),
    st.dictionaries(odd_text(30), odd_text(), max_size=6).map(encode_form),
)
CONTENT_TYPES = [None, "", "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=utf-8",
                 "application/json", "application/json; charset=utf-16", "text/plain", "text/xml",
                 "multipart/form-data; boundary=fuzz", "application/octet-stream", "*/*", "form"]
content_types = st.sampled_from(CONTENT_TYPES)


def post(url: str, body: bytes, headers: dict[str, str | bytes | None], timeout: float = 60) -> requests.Response:
    return requests.post(url, data=body, headers={k: v for k, v in headers.items() if v is not None}, timeout=timeout)


def servers_alive(processes: list[subprocess.Popen]) -> None:
    exited = [p.args for p in processes if p.poll() is not None]
    assert not exited, f"a server process exited: {exited}"


# --- a Rasa server with Slack, Greenhouse and Lever configured ---------------------------------------------

SERVE_WITHOUT_MODEL = """
import sys
from rasa.core.run import configure_app, create_http_input_channels
port = int(sys.argv[1])
app = configure_app(create_http_input_channels(None, "credentials.yml"), enable_api=False, port=port)
app.run(host="127.0.0.1", port=port, access_log=False)
"""


class WebhookServer:
    def __init__(self, process: subprocess.Popen, url: str, slack_api, log: Path) -> None:
        self.process, self.url, self.slack_api, self.log = process, url, slack_api, log

    def status(self, channel: str) -> dict:
        return requests.get(f"{self.url}/webhooks/{channel}", headers={"Authorization": f"Bearer {OPS_TOKEN}"},
                            timeout=10).json()

    def state(self) -> dict[str, int]:
        """What a processed Slack or ATS request would add to: handoffs, queues (totals, as the loops move rows
        from one status to another meanwhile), and calls to Slack's API."""
        recruiter, candidate, ats = (self.status(name) for name in ("recruiter_slack", "slack", "ats_updates"))
        return {"handoffs": recruiter["live_handoffs"], "slack outbox": sum(recruiter["slack_outbox"].values()),
                "deliveries": sum(recruiter["candidate_deliveries"].values()),
                "candidate inbox": sum(candidate["inbox"].values()), "ats events": sum(ats["events"].values()),
                "slack calls": self.slack_api.requests}


@pytest.fixture(scope="module")
def webhook_server(tmp_path_factory):
    from tests.fakes.slack_api import FakeSlackAPI

    slack_api = FakeSlackAPI().start()
    workdir = tmp_path_factory.mktemp("webhook-server")
    port = free_port()
    env = {**os.environ, **slack_env(slack_api),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
           "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
           "TWILIO_AUTH_TOKEN": secrets.token_hex(16), "CONVERSATION_ID_KEY": secrets.token_hex(8),
           "ATS_DATABASE": str(workdir / "ats.db"), "ATS_SEED_FILE": str(DEMO_SEED),
           "STATE_DATABASE": str(workdir / "state.db"), "TRACKER_DB": str(workdir / "tracker.db"),
           "ATS_WEBHOOK_SECRET": ATS_WEBHOOK_SECRET, "GREENHOUSE_WEBHOOK_SECRET": GREENHOUSE_SECRET,
           "LEVER_WEBHOOK_TOKEN": LEVER_TOKEN, "WEB_JWT_SECRET": WEB_JWT_SECRET,
           "QUIET_HOURS": "off", "STALE_APPLICATION_DAYS": "0", "DELIVERY_POLL_SECONDS": "0.3",
           "OPS_TOKEN": OPS_TOKEN,
           # Started without `--interface`, so the start-up checks take it for a public server: no CORS *.
           "WEB_ALLOWED_ORIGINS": "https://candidates.acme.example"}
    log = workdir / "rasa.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([sys.executable, "-c", SERVE_WITHOUT_MODEL, str(port)], cwd=PROJECT_ROOT, env=env,
                                   stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    server = WebhookServer(process, f"http://127.0.0.1:{port}", slack_api, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"the webhook server exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the webhook server did not start:\n{log.read_text()[-3000:]}"
            try:
                if server.status("recruiter_slack").get("configured"):
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        slack_api.stop()


# --- Twilio SMS --------------------------------------------------------------------------------------------

TWILIO_FIELDS = ["MessageSid", "SmsSid", "AccountSid", "From", "To", "Body", "NumMedia", "MessagingServiceSid"]
OTHER_URLS = ["https://evil.example/webhooks/twilio/webhook", "http://candidates.acme.example/webhooks/twilio/webhook",
              "https://candidates.acme.example/webhooks/twilio/webhook/", "https://candidates.acme.example/",
              "https://candidates.acme.example/webhooks/twilio/webhook?x=1"]
FORGERIES = ["none", "empty", "garbage", "wrong token", "other url", "tampered", "replayed", "wrong content type",
             "raw body"]
forged_forms = st.builds(
    lambda body, extra, dropped: {k: v for k, v in {**inbound_params(FORGED_PHONE, body, message_sid="SM" + "f" * 32),
                                                     **extra}.items() if k not in dropped},
    plain_text(300), st.dictionaries(plain_text(20), plain_text(), max_size=3),
    st.sets(st.sampled_from(TWILIO_FIELDS), max_size=3))


def test_twilio_refuses_unsigned_forged_tampered_and_replayed_requests(stack):
    replayed = inbound_params(FORGED_PHONE, "where's my application?", message_sid="SM" + "e" * 32)
    replayed_signature = stack.sign(replayed)
    url = stack.stack.sms_webhook_url

    @FUZZ
    @given(form=forged_forms, forgery=st.sampled_from(FORGERIES), garbage=ascii_header, body=any_body,
           content_type=content_types, other_url=st.sampled_from(OTHER_URLS))
    def forged(form, forgery, garbage, body, content_type, other_url):
        signature, data, kind = None, encode_form(form), "application/x-www-form-urlencoded"
        if forgery == "empty":
            signature = ""
        elif forgery == "garbage":
            signature = garbage
        elif forgery == "wrong token":
            signature = stack.sign(form, token=secrets.token_hex(16))
        elif forgery == "other url":
            signature = stack.sign(form, url=other_url)
        elif forgery == "tampered":  # a genuine signature, then one value changed on the way
            signature = stack.sign(form)
            data = encode_form({**form, "Body": form.get("Body", "") + "!"})
        elif forgery == "replayed":  # a signature captured from another request
            signature = replayed_signature
        elif forgery == "wrong content type":
            assume(form and not (content_type or "").startswith("application/x-www-form-urlencoded"))
            signature, kind = stack.sign(form), content_type
        elif forgery == "raw body":
            signature, data, kind = stack.sign(form), body, content_type
        headers = {"Content-Type": kind, "X-Twilio-Signature": signature}
        reply = post(url, data, headers)
        assert reply.status_code == 403, (reply.status_code, reply.text[:300])
        assert reply.text == "invalid signature"

    forged()
    assert [event for event in stack.tracker_events(FORGED_PHONE) if event["event"] == "user"] == []
    servers_alive(stack.stack.processes)


def test_twilio_signed_garbage_gets_a_clear_400_or_a_real_answer(stack):
    @settings(FUZZ, max_examples=40)
    @given(fields=st.dictionaries(st.sampled_from(TWILIO_FIELDS) | plain_text(20), plain_text(300), max_size=6),
           body=st.none() | plain_text(300),
           sender=st.sampled_from([None, FUZZ_PHONE, FUZZ_PHONE, "(617) 555-0182", "random"]),
           sender_text=plain_text(30),
           sid=st.sampled_from(["fresh", "missing", "empty", "SmsSid only", "random"]), sid_text=plain_text(40),
           charset=st.sampled_from(["", "; charset=utf-8", "; charset=UTF-8"]))
    def signed(fields, body, sender, sender_text, sid, sid_text, charset):
        form = dict(fields) if body is None else {**fields, "Body": body}
        if sender is None:
            form.pop("From", None)
        else:
            form["From"] = sender_text if sender == "random" else sender
        fresh = "SM" + secrets.token_hex(16)
        form.pop("SmsSid", None)
        form["MessageSid"] = {"fresh": fresh, "empty": "", "random": sid_text}.get(sid, fresh)
        if sid in ("missing", "SmsSid only"):
            del form["MessageSid"]
        if sid == "SmsSid only":
            form["SmsSid"] = fresh
        parsed = urllib.parse.parse_qs(encode_form(form).decode(), keep_blank_values=True)
        assume({k: v[0] for k, v in parsed.items()} == form)  # what Twilio signs is what the server reads
        reply = stack.post(form, stack.sign(form), content_type="application/x-www-form-urlencoded" + charset)
        valid = normalise_phone(form.get("From")) is not None and bool(form.get("MessageSid") or form.get("SmsSid"))
        if valid:
            assert reply.status == 200, (reply.status, reply.body[:300])
            twiml_messages(reply.body)  # well-formed TwiML
        else:
            assert reply.status == 400, (reply.status, reply.body[:300])

    signed()
    servers_alive(stack.stack.processes)


def test_twilio_replayed_message_is_answered_once_and_a_huge_one_is_answered(stack):
    form = inbound_params(REPLAY_PHONE, "where's my application?")
    first = stack.post(form, stack.sign(form))
    again = stack.post(form, stack.sign(form))  # exactly the same request again: Twilio redelivering, or a replay
    assert first.status == again.status == 200 and first.messages
    assert again.body == first.body
    assert stack.user_messages(REPLAY_PHONE) == ["where's my application?"]
    huge = inbound_params(REPLAY_PHONE, "é" * 600_000)  # 1.2 MB of UTF-8
    reply = stack.post(huge, stack.sign(huge))
    assert reply.status == 200 and reply.messages


# --- the generic ATS webhook (session stack) and Greenhouse / Lever -----------------------------------------

ATS_FORGERIES = ["none", "timestamp only", "signature only", "garbage", "wrong secret", "other body", "stale",
                 "future", "not finite"]
ats_ids = (json_values(plain_text(30)) | plain_text(120)).filter(
    lambda value: not (isinstance(value, str) and DEMO_APPLICATION_ID.match(value.strip())))
generic_events = st.fixed_dictionaries(
    {"application_id": ats_ids},
    optional={"event": st.just("stage_changed") | json_values(plain_text()), "stage": json_values(plain_text(250)),
              "extra": json_values(plain_text())})
generic_bodies = st.one_of(
    st.binary(max_size=300),
    invalid_utf8,
    st.builds(encode_json, json_values(plain_text())),
    st.builds(encode_json, generic_events),
    st.builds(lambda events: encode_json({"events": events}), st.lists(generic_events, max_size=4)),
    st.builds(lambda event: encode_json({"events": [event] * (MAX_EVENTS + 1)}), generic_events),
)


def _ats_state(stack) -> int:
    return sum(stack.ops_status("ats_updates")["events"].values())


def test_generic_ats_webhook_refuses_forged_stale_and_replayed_notices(stack):
    url = f"{stack.stack.rasa_url}/webhooks/ats_updates/generic"
    events_before = _ats_state(stack)

    @FUZZ
    @given(body=any_body | generic_bodies, other=generic_bodies, forgery=st.sampled_from(ATS_FORGERIES),
           garbage=st.tuples(ascii_header, ascii_header), offset=st.integers(REPLAY_WINDOW_SECONDS + 1, 10**10),
           not_finite=st.sampled_from(["nan", "inf", "-inf", "1e400", "-1e999", "NaN"]))
    def forged(body, other, forgery, garbage, offset, not_finite):
        now = str(int(time.time()))
        timestamp, signature = {
            "none": (None, None),
            "timestamp only": (now, None),
            "signature only": (None, generic_signature(ATS_WEBHOOK_SECRET, now, body)),
            "garbage": garbage,
            "wrong secret": (now, generic_signature("not-the-secret", now, body)),
            "other body": (now, generic_signature(ATS_WEBHOOK_SECRET, now, other)),
            "stale": (str(int(now) - offset), generic_signature(ATS_WEBHOOK_SECRET, str(int(now) - offset), body)),
            "future": (str(int(now) + offset), generic_signature(ATS_WEBHOOK_SECRET, str(int(now) + offset), body)),
            "not finite": (not_finite, generic_signature(ATS_WEBHOOK_SECRET, not_finite, body)),
        }[forgery]
        assume(forgery != "other body" or other != body)
        reply = post(url, body, {"X-ATS-Timestamp": timestamp, "X-ATS-Signature": signature,
                                 "Content-Type": "application/json"})
        assert reply.status_code == (413 if len(body) > 256 * 1024 else 401), (reply.status_code, reply.text[:300])

    forged()
    assert _ats_state(stack) == events_before  # nothing queued
    servers_alive(stack.stack.processes)


def test_generic_ats_webhook_answers_signed_garbage_like_its_parser(stack):
    url = f"{stack.stack.rasa_url}/webhooks/ats_updates/generic"

    @FUZZ
    @given(body=generic_bodies, skew=st.integers(-REPLAY_WINDOW_SECONDS + 30, REPLAY_WINDOW_SECONDS - 30),
           fraction=st.sampled_from(["", ".0", ".25"]), content_type=content_types)
    def signed(body, skew, fraction, content_type):
        timestamp = f"{int(time.time()) + skew}{fraction}"
        signature = generic_signature(ATS_WEBHOOK_SECRET, timestamp, body)
        try:
            expected = 200, {"received": len(generic_notices(body, timestamp, signature, ATS_WEBHOOK_SECRET))}
        except WebhookRefused as refused:
            expected = refused.status, {"error": refused.reason}
        reply = post(url, body, {"X-ATS-Timestamp": timestamp, "X-ATS-Signature": signature,
                                 "Content-Type": content_type})
        assert (reply.status_code, reply.json()) == expected

    signed()
    servers_alive(stack.stack.processes)


def test_greenhouse_and_lever_answer_503_where_they_are_not_configured(stack):
    for source in ("greenhouse", "lever"):
        for body in (b"", b"{}", b"\xff\xfe", b'{"action": "candidate_stage_change"}', repeat_to(b"x", 300_000)):
            reply = post(f"{stack.stack.rasa_url}/webhooks/ats_updates/{source}", body,
                         {"Content-Type": "application/json", "Signature": "sha256 00"})
            assert reply.status_code == 503, (source, body[:20], reply.status_code)
            assert reply.json() == {"error": f"the {source} webhook is not configured on this server"}
    reply = post(f"{stack.stack.rasa_url}/webhooks/ats_updates/workday", b"{}", {})
    assert reply.status_code == 404


def greenhouse_signature(body: bytes, secret: str = GREENHOUSE_SECRET) -> str:
    return "sha256 " + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def lever_signature(token: str, triggered, secret: str = LEVER_TOKEN) -> str:
    return hmac.new(secret.encode(), f"{token}{triggered}".encode(), hashlib.sha256).hexdigest()


hashable_json = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | plain_text()
greenhouse_bodies = st.one_of(
    st.binary(max_size=300),
    invalid_utf8,
    st.builds(encode_json, json_values(odd_text())),
    st.builds(encode_json, st.fixed_dictionaries({}, optional={
        "action": st.sampled_from(sorted(GREENHOUSE_ACTIONS | {"ping"})) | hashable_json,
        "payload": st.fixed_dictionaries({}, optional={"application": st.fixed_dictionaries({}, optional={
            "id": ats_ids, "current_stage": json_values(plain_text()) | st.fixed_dictionaries(
                {"name": json_values(plain_text(250))}),
            # The event's own time: recent (a genuine notice), or missing or not a time (a 400).
            "last_activity_at": st.builds(lambda: _iso_now()) | st.none() | st.integers()})
            | json_values(plain_text())}) | json_values(plain_text()),
    })),
)


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def well_formed_notices(notices) -> None:
    assert isinstance(notices, list)
    for notice in notices:
        assert isinstance(notice, StageNotice)
        assert notice.application_id == notice.application_id.strip() and 0 < len(notice.application_id) <= 100
        assert notice.stage is None or 0 < len(notice.stage) <= 200


@settings(FUZZ, max_examples=150)
@given(body=greenhouse_bodies, header=st.one_of(st.none(), odd_text(80), ascii_header.map(lambda h: "sha256 " + h)),
       forgery=st.sampled_from(["header", "wrong secret", "other body", "sha1"]), other=greenhouse_bodies)
def test_greenhouse_check_refuses_every_forged_signature(body, header, forgery, other):
    assume(forgery != "other body" or other != body)
    signature = {"header": header, "wrong secret": greenhouse_signature(body, "not-the-secret"),
                 "other body": greenhouse_signature(other), "sha1": "sha1 " + greenhouse_signature(body)[7:]}[forgery]
    with pytest.raises(WebhookRefused) as refused:
        greenhouse_notices(body, signature, GREENHOUSE_SECRET)
    assert refused.value.status == 401


@settings(FUZZ, max_examples=150)
@given(body=greenhouse_bodies, style=st.sampled_from(["sha256 {}", "SHA256 {}", " sha256  {} ", "sha256 {}"]))
def test_greenhouse_signed_garbage_is_a_400_or_notices(body, style):
    signature = style.format(greenhouse_signature(body)[7:])
    try:
        notices = greenhouse_notices(body, signature, GREENHOUSE_SECRET)
    except WebhookRefused as refused:
        assert refused.status == 400
    else:
        well_formed_notices(notices)


lever_fields = st.fixed_dictionaries({}, optional={
    "token": plain_text(40) | json_values(plain_text()), "signature": ascii_header | json_values(plain_text()),
    "triggeredAt": st.integers(-(2**70), 2**70) | plain_text(20) | json_values(plain_text()),
    "event": st.sampled_from(sorted(LEVER_EVENTS)) | hashable_json,
    "data": st.fixed_dictionaries({}, optional={"opportunityId": ats_ids}) | json_values(plain_text()),
})
lever_bodies = st.one_of(st.binary(max_size=300), invalid_utf8, st.builds(encode_json, json_values(plain_text())),
                         st.builds(encode_json, lever_fields))


@settings(FUZZ, max_examples=150)
@given(body=lever_bodies)
def test_lever_check_refuses_unsigned_garbage(body):
    with pytest.raises(WebhookRefused) as refused:
        lever_notices(body, LEVER_TOKEN)
    assert refused.value.status in (400, 401)


@settings(FUZZ, max_examples=150)
@given(fields=lever_fields, token=plain_text(40), forgery=st.sampled_from(["wrong secret", "stale", "future",
                                                                            "replayed", "as text"]),
       age_ms=st.integers((REPLAY_WINDOW_SECONDS + 1) * 1000, 10**13))
def test_lever_check_refuses_forged_stale_and_replayed_signatures(fields, token, forgery, age_ms):
    now_ms = int(time.time() * 1000)
    triggered = {"stale": now_ms - age_ms, "future": now_ms + age_ms}.get(forgery, now_ms)
    secret = "not-the-secret" if forgery == "wrong secret" else LEVER_TOKEN
    body = {**fields, "token": token, "triggeredAt": triggered, "signature": lever_signature(token, triggered, secret)}
    if forgery == "replayed":  # a signature captured from an earlier notice, sent with a new time
        body["triggeredAt"] = triggered + 1
    if forgery == "as text":  # the right signature, sent anywhere but the signature field
        body["signature"], body["note"] = "", body["signature"]
    with pytest.raises(WebhookRefused) as refused:
        lever_notices(encode_json(body), LEVER_TOKEN)
    assert refused.value.status == 401


@settings(FUZZ, max_examples=150)
@given(fields=lever_fields, token=plain_text(40), skew_ms=st.integers(-250_000, 250_000), as_text=st.booleans())
def test_lever_signed_garbage_is_a_400_or_notices(fields, token, skew_ms, as_text):
    triggered = int(time.time() * 1000) + skew_ms
    triggered = str(triggered) if as_text else triggered
    body = encode_json({**fields, "token": token, "triggeredAt": triggered,
                        "signature": lever_signature(token, triggered)})
    try:
        notices = lever_notices(body, LEVER_TOKEN)
    except WebhookRefused as refused:
        assert refused.status == 400
    else:
        well_formed_notices(notices)


def test_greenhouse_and_lever_over_http_refuse_forgeries_and_accept_genuine_notices(webhook_server):
    before = webhook_server.state()

    @settings(FUZZ, max_examples=40)
    @given(source=st.sampled_from(["greenhouse", "lever"]), body=any_body | greenhouse_bodies | lever_bodies,
           header=st.none() | ascii_header.map(lambda h: "sha256 " + h), content_type=content_types)
    def forged(source, body, header, content_type):
        reply = post(f"{webhook_server.url}/webhooks/ats_updates/{source}", body,
                     {"Signature": header, "Content-Type": content_type})
        if len(body) > 256 * 1024:
            assert reply.status_code == 413
        else:
            assert reply.status_code in ((401,) if source == "greenhouse" else (400, 401)), reply.text[:300]

    forged()
    assert webhook_server.state() == before
    genuine = encode_json({"action": "candidate_stage_change", "payload": {"application": {
        "id": 987654, "current_stage": {"name": "Onsite"}, "last_activity_at": _iso_now()}}})
    reply = post(f"{webhook_server.url}/webhooks/ats_updates/greenhouse", genuine,
                 {"Signature": greenhouse_signature(genuine), "Content-Type": "application/json"})
    assert (reply.status_code, reply.json()) == (200, {"received": 1})
    triggered = int(time.time() * 1000)
    genuine = encode_json({"event": "candidateStageChange", "token": "t0k", "triggeredAt": triggered,
                           "signature": lever_signature("t0k", triggered), "data": {"opportunityId": "fuzz-opp"}})
    reply = post(f"{webhook_server.url}/webhooks/ats_updates/lever", genuine, {"Content-Type": "application/json"})
    assert (reply.status_code, reply.json()) == (200, {"received": 1})
    servers_alive([webhook_server.process])


def _signed_generic(body: bytes, timestamp: str | None = None) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    return {"X-ATS-Timestamp": timestamp, "X-ATS-Signature": generic_signature(ATS_WEBHOOK_SECRET, timestamp, body)}


def test_fixed_crash_generic_non_ascii_timestamp(stack):
    reply = post(f"{stack.stack.rasa_url}/webhooks/ats_updates/generic", b"{}",
                 {"X-ATS-Timestamp": b"\xff", "X-ATS-Signature": "sha256=00"})
    assert reply.status_code == 401


@pytest.mark.parametrize("source", ["generic", "lever"])
def test_fixed_crash_json_integer_over_4300_digits(stack, webhook_server, source):
    body = b"1" * 4301
    if source == "generic":
        reply = post(f"{stack.stack.rasa_url}/webhooks/ats_updates/generic", body, _signed_generic(body))
    else:
        reply = post(f"{webhook_server.url}/webhooks/ats_updates/lever", body, {"Content-Type": "application/json"})
    assert reply.status_code == 400


def test_fixed_crash_lever_lone_surrogate_in_token(webhook_server):
    body = b'{"token": "\\ud800", "triggeredAt": 1, "signature": ""}'
    reply = post(f"{webhook_server.url}/webhooks/ats_updates/lever", body, {"Content-Type": "application/json"})
    assert reply.status_code == 401


def test_fixed_crash_application_id_with_lone_surrogate(stack):
    body = b'{"application_id": "\\ud800"}'
    reply = post(f"{stack.stack.rasa_url}/webhooks/ats_updates/generic", body, _signed_generic(body))
    assert reply.status_code == 400


def test_fixed_crash_greenhouse_unhashable_action():
    body = b'{"action": []}'
    assert greenhouse_notices(body, greenhouse_signature(body), GREENHOUSE_SECRET) == []


def test_fixed_crash_lever_unhashable_event():
    triggered = int(time.time() * 1000)
    body = encode_json({"event": [], "token": "t", "triggeredAt": triggered,
                        "signature": lever_signature("t", triggered)})
    assert lever_notices(body, LEVER_TOKEN) == []


def test_fixed_crash_lever_huge_triggered_at():
    triggered = 10**400
    body = encode_json({"token": "t", "triggeredAt": triggered, "signature": lever_signature("t", triggered)})
    with pytest.raises(WebhookRefused):
        lever_notices(body, LEVER_TOKEN)


# --- Slack -------------------------------------------------------------------------------------------------

def test_slack_answers_503_where_it_is_not_configured(stack):
    url = f"{stack.stack.rasa_url}/webhooks/recruiter_slack/events"

    @settings(FUZZ, max_examples=15)
    @given(body=any_body, content_type=content_types, signed=st.booleans())
    def unconfigured(body, content_type, signed):
        headers = slack_signing.sign(SLACK_SIGNING_SECRET, body) if signed else {}
        reply = post(url, body, {**headers, "Content-Type": content_type})
        assert reply.status_code == 503
        assert reply.json()["error"].startswith("Slack is not configured")

    unconfigured()


slack_ids = st.one_of(st.from_regex(r"\A[CDGU][0-9A-Z]{8,10}\Z"), plain_text(20))
slack_ts = st.one_of(st.from_regex(r"\A[0-9]{10}\.[0-9]{6}\Z"), plain_text(20))
message_events = st.fixed_dictionaries(
    {"type": st.just("message"), "channel": slack_ids, "user": slack_ids, "text": plain_text(300), "ts": slack_ts},
    optional={"thread_ts": slack_ts, "channel_type": st.sampled_from(["channel", "group", "im", "mpim"]),
              "subtype": st.sampled_from(["bot_message", "message_changed", "channel_join"]), "bot_id": slack_ids})
action_values = st.one_of(plain_text(30), st.from_regex(r"\A-?[0-9]{1,18}\Z"))
# What Slack sends: valid UTF-8, JSON objects whose Slack fields have Slack's types, form bodies whose `payload`
# is a JSON object, and text that is neither.
well_formed_slack_bodies = st.one_of(
    st.builds(lambda event: slack_signing.event_callback(event), message_events),
    st.builds(lambda action_id, value, user, channel: slack_signing.block_action(action_id, value, user, channel),
              st.sampled_from([CLAIM, HAND_BACK, CLOSE, CANDIDATE_BUTTON]) | plain_text(30), action_values,
              st.from_regex(r"\AU[0-9A-Z]{8}\Z"), st.from_regex(r"\A[CD][0-9A-Z]{8}\Z")),
    st.builds(slack_signing.url_verification, plain_text(80)),
)
unsigned_slack_bodies = st.one_of(
    well_formed_slack_bodies,
    st.builds(encode_json, st.dictionaries(odd_text(20).filter(lambda key: key not in SLACK_FIELDS),
                                           json_values(odd_text()), max_size=5)),
    plain_text(300).map(lambda text: text.encode()).filter(lambda body: not body.lstrip().startswith((b"{", b"["))
                                                           and b"payload" not in body and b"ssl_check" not in body),
    st.integers(1_050_000, 1_500_000).map(lambda size: encode_json({"type": "event_callback", "text": "x" * size})),
)
# Signed, so past the signature check, but not what Slack sends: fields of other types, ids past SQLite's
# integers, lone surrogates in JSON escapes, events that are not objects.
malformed_signed_slack_bodies = st.one_of(
    st.builds(lambda event: slack_signing.event_callback(event),
              st.dictionaries(st.sampled_from(["type", "channel", "user", "text", "ts", "thread_ts", "channel_type",
                                               "subtype", "bot_id"]), json_values(odd_text(30)), max_size=8)
              .map(lambda event: {"type": "message", **event})),
    st.builds(lambda event: encode_json({"type": "event_callback", "event": event}), json_values(odd_text(30))),
    st.builds(lambda action_id, value, user: slack_signing.block_action(action_id, value, user, "C0FUZZ001"),
              st.sampled_from([CLAIM, HAND_BACK, CLOSE, CANDIDATE_BUTTON]),
              st.integers(-(2**70), 2**70).map(str) | odd_text(30), odd_text(12)),
)
SLACK_FORGERIES = ["none", "timestamp only", "signature only", "garbage", "wrong secret", "stale", "future",
                   "replayed", "v1 scheme"]


def slack_content_type(body: bytes) -> str:
    return "application/json" if body.lstrip().startswith(b"{") else "application/x-www-form-urlencoded"


def test_slack_refuses_unsigned_forged_stale_and_replayed_requests(webhook_server):
    url = f"{webhook_server.url}/webhooks/recruiter_slack/events"
    before = webhook_server.state()

    @FUZZ
    @given(body=unsigned_slack_bodies, other=well_formed_slack_bodies, forgery=st.sampled_from(SLACK_FORGERIES),
           garbage=st.tuples(st.from_regex(r"\A[0-9]{1,12}\Z"), ascii_header),
           offset=st.integers(301, 10**9), content_type=st.sampled_from([None, "text/plain", "application/xml"]))
    def forged(body, other, forgery, garbage, offset, content_type):
        now = int(time.time())
        genuine = slack_signing.sign(SLACK_SIGNING_SECRET, body)
        timestamp, signature = {
            "none": (None, None),
            "timestamp only": (str(now), None),
            "signature only": (None, genuine["X-Slack-Signature"]),
            "garbage": garbage,
            "wrong secret": (str(now), slack_signing.signature("not-the-signing-secret", body, now)),
            "stale": (str(now - offset), slack_signing.signature(SLACK_SIGNING_SECRET, body, now - offset)),
            "future": (str(now + offset), slack_signing.signature(SLACK_SIGNING_SECRET, body, now + offset)),
            "replayed": (str(now), slack_signing.signature(SLACK_SIGNING_SECRET, other, now)),
            "v1 scheme": (str(now), "v1=" + genuine["X-Slack-Signature"][3:]),
        }[forgery]
        assume(forgery != "replayed" or other != body)
        kind = slack_content_type(body) if content_type is None or body.lstrip().startswith(b"{") else content_type
        reply = post(url, body, {"Content-Type": kind, "X-Slack-Request-Timestamp": timestamp,
                                 "X-Slack-Signature": signature})
        assert reply.status_code == 403, (reply.status_code, reply.text[:300])
        assert reply.json() == {"error": "invalid signature"}

    forged()
    assert webhook_server.state() == before  # no handoff touched, no candidate message stored, Slack never called
    servers_alive([webhook_server.process])


def test_slack_ssl_check_is_answered_empty_and_does_nothing(webhook_server):
    before = webhook_server.state()
    reply = post(f"{webhook_server.url}/webhooks/recruiter_slack/events", b"ssl_check=1&token=anything",
                 {"Content-Type": "application/x-www-form-urlencoded"})
    assert (reply.status_code, reply.text) == (200, "")  # Slack's unsigned certificate probe, answered by bolt
    assert webhook_server.state() == before


def test_slack_signed_odd_requests_get_an_answer_not_an_error(webhook_server):
    url = f"{webhook_server.url}/webhooks/recruiter_slack/events"

    @settings(FUZZ, max_examples=50)
    @given(body=well_formed_slack_bodies)
    def signed(body):
        reply = post(url, body, slack_signing.sign(SLACK_SIGNING_SECRET, body))
        assert reply.status_code in (200, 404), (reply.status_code, reply.text[:300])  # 404: bolt has no listener
        if b'"url_verification"' in body:
            assert reply.json() == {"challenge": json.loads(body)["challenge"]}

    signed()


def test_slack_signed_malformed_requests_get_a_4xx_not_an_error(webhook_server):
    url = f"{webhook_server.url}/webhooks/recruiter_slack/events"

    @settings(FUZZ, max_examples=60)
    @given(body=malformed_signed_slack_bodies)
    def signed(body):
        reply = post(url, body, slack_signing.sign(SLACK_SIGNING_SECRET, body))
        assert reply.status_code in (200, 400, 404), (reply.status_code, reply.text[:300])

    signed()
    servers_alive([webhook_server.process])
    servers_alive([webhook_server.process])


@pytest.mark.parametrize("body", [b"\xff", b"{", b"[]", b"payload=x", b'{"channel": 5}'],
                         ids=["invalid-utf8", "malformed-json", "json-array", "form-payload-not-json", "wrong-type"])
def test_fixed_crash_slack_unsigned_unparsable_body(webhook_server, body):
    content_type = "application/json" if body.startswith((b"{", b"[")) else "application/x-www-form-urlencoded"
    reply = post(f"{webhook_server.url}/webhooks/recruiter_slack/events", body, {"Content-Type": content_type})
    assert reply.status_code == 403


def test_fixed_crash_slack_non_integer_timestamp(webhook_server):
    reply = post(f"{webhook_server.url}/webhooks/recruiter_slack/events", b'{"type": "event_callback"}',
                 {"Content-Type": "application/json", "X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"})
    assert reply.status_code == 403


SIGNED_SLACK_CRASHES = {
    # bolt's IgnoringSelfEvents middleware called .get on the event (AttributeError): refused before bolt
    "event-not-an-object": (b'{"type": "event_callback", "event": []}', 400),
    # RecruiterSlack._recruiter_action: int(value) fits Python, not SQLite (OverflowError in HandoffDesk.claim):
    # acknowledged, like any button without a handoff id, and nothing done
    "button-value-past-int64": (slack_signing.block_action(CLAIM, str(2**63)), 200),
    # SlackCandidates.receive -> conversation_id_for: HMAC over user.encode() (UnicodeEncodeError): refused
    "user-id-lone-surrogate": (slack_signing.event_callback({
        "type": "message", "channel": "D0FUZZ0001", "user": "\ud800", "text": "hi", "ts": "1.000001",
        "channel_type": "im"}), 400),
}


@pytest.mark.parametrize(("body", "status"), SIGNED_SLACK_CRASHES.values(), ids=SIGNED_SLACK_CRASHES.keys())
def test_fixed_crash_slack_signed_malformed(webhook_server, body, status):
    before = webhook_server.state()
    reply = post(f"{webhook_server.url}/webhooks/recruiter_slack/events", body,
                 slack_signing.sign(SLACK_SIGNING_SECRET, body))
    assert reply.status_code == status, (reply.status_code, reply.text[:300])
    assert webhook_server.state() == before


# --- calendar invites --------------------------------------------------------------------------------------

def test_calendar_invite_links_answer_404_for_any_unknown_token(stack):
    base = f"{stack.stack.rasa_url}/webhooks/calendar/invite/"

    @FUZZ
    @given(token=st.one_of(odd_text(100).map(lambda t: urllib.parse.quote(t.encode("utf-8", "surrogatepass"), safe="")),
                           st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/?#"),
                                   max_size=100),
                           st.binary(max_size=80).map(lambda b: urllib.parse.quote(b, safe=""))),
           suffix=st.sampled_from([".ics", "", ".ICS", ".ics.ics", "%2Eics"]))
    def unknown(token, suffix):
        reply = requests.get(base + token + suffix, timeout=30)
        assert reply.status_code in (400, 404), (reply.status_code, reply.text[:200])

    unknown()
    reply = requests.post(base + "x.ics", data=b"{}", timeout=30)
    assert reply.status_code == 405


# --- web chat (socket.io) ----------------------------------------------------------------------------------

class ChatTab:
    """A browser tab on python-socketio's asyncio client, driven from synchronous hypothesis examples by its own
    event loop (the client's background tasks run while an example awaits something)."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = socketio.AsyncClient(reconnection=False)
        self.confirmations: asyncio.Queue = asyncio.Queue()
        self.client.on("session_confirm", self.confirmations.put)
        self.run(self.client.connect(url, socketio_path="/socket.io", transports=["polling"], wait_timeout=10))

    def run(self, awaitable):
        return self.loop.run_until_complete(awaitable)

    def session_request(self, data) -> dict:
        self.run(self.client.emit("session_request", data))
        return self.run(asyncio.wait_for(self.confirmations.get(), 10))

    def say(self, data) -> dict:
        return self.run(self.client.call("user_uttered", data, timeout=30))

    def close(self) -> None:
        """Leave like a closed tab: tell the server, then drop the pending long-poll instead of waiting it out
        (a synchronous client cannot, and keeps the server from shutting down for up to 25 s)."""
        for namespace in self.client.namespaces:
            self.run(self.client._send_packet(self.client.packet_class(socketio.packet.DISCONNECT,
                                                                       namespace=namespace)))
        self.run(self.client.eio.disconnect(abort=True))
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:  # gather() with nothing to gather would take another loop
            self.run(asyncio.wait(pending))
        self.loop.close()


def _socketio_connect(base_url: str, auth, timeout: float = 10) -> str:
    """The server's answer to a socket.io CONNECT carrying auth, over bare engine.io polling: '40{"sid":...}'
    when it lets the visitor in, '44{"message":...}' when it refuses. (python-socketio's client, refused while
    a long-poll is pending, waits that poll out: up to 30 s.)"""
    session = _engineio_session(base_url)
    packet = b"40" + (json.dumps(auth).encode() if auth is not None else b"")
    assert post(session, packet, {"Content-Type": "text/plain;charset=UTF-8"}).text == "OK"
    try:
        return requests.get(session, timeout=timeout).text
    finally:
        post(session, b"1", {"Content-Type": "text/plain;charset=UTF-8"})  # engine.io CLOSE


message_ids = st.one_of(st.from_regex(r"\A[A-Za-z0-9_-]{8,64}\Z"), odd_text(70), json_values(plain_text()))
chat_payloads = st.one_of(
    json_values(odd_text()),  # None too: an event without data (its own fixed-crash test)
    st.fixed_dictionaries({"message_id": message_ids}, optional={
        "message": odd_text(2500) | json_values(odd_text()),
        "metadata": st.fixed_dictionaries({"verified_email": st.just("priya@example.com")}) | json_values(odd_text()),
        "session_id": st.from_regex(r"\A[0-9a-f]{32}\Z") | odd_text(40) | json_values(plain_text())}),
)


def test_web_chat_handlers_answer_malformed_messages_clearly(stack):
    tab = ChatTab(stack.stack.rasa_url)
    try:
        assert tab.session_request({})["verified"] is False

        @settings(FUZZ, max_examples=50)
        @given(event=st.sampled_from(["user_uttered", "user_uttered", "session_request"]), data=chat_payloads)
        def malformed(event, data):
            if event == "session_request":
                confirm = tab.session_request(data)
                requested = data.get("session_id") if isinstance(data, dict) else None
                assert confirm["verified"] is False and ANONYMOUS_ID.match(confirm["session_id"])
                if isinstance(requested, str) and ANONYMOUS_ID.match(requested):
                    assert confirm["session_id"] == requested
                return
            ack = tab.say(data)
            message_id = data.get("message_id") if isinstance(data, dict) else None
            text = clean_message(data.get("message")) if isinstance(data, dict) else None
            valid = (isinstance(message_id, str) and bool(MESSAGE_ID.match(message_id))
                     and text is not None and not is_too_long(text))  # too long: refused whole, politely
            assert isinstance(ack, dict) and ack["ok"] is valid, (ack, data)
            if not valid:
                assert isinstance(ack["error"], str) and ack["error"]

        malformed()
    finally:
        tab.close()
    servers_alive(stack.stack.processes)


def test_web_chat_refuses_any_token_it_did_not_sign(stack):
    jwt_shaped = st.from_regex(r"\A[A-Za-z0-9_-]{1,40}(\.[A-Za-z0-9_-]{0,40}){2}\Z")

    @settings(FUZZ, max_examples=30)
    @given(auth=st.one_of(json_values(plain_text()), st.fixed_dictionaries({"token": json_values(plain_text(300))}),
                          st.fixed_dictionaries({"token": jwt_shaped})))
    def connect(auth):
        token = auth.get("token") if isinstance(auth, dict) else None
        answer = _socketio_connect(stack.stack.rasa_url, auth)
        if token:  # a token, and not one the careers site signed
            assert answer.startswith("44"), answer[:200]
        else:  # an anonymous visitor
            assert answer.startswith("40{"), answer[:200]

    connect()


def _engineio_session(base_url: str) -> str:
    """A fresh engine.io polling session (what a browser opens first): the URL to POST packets to."""
    url = f"{base_url}/socket.io/"
    params = {"EIO": "4", "transport": "polling"}
    params["sid"] = json.loads(requests.get(url, params=params, timeout=30).text[1:])["sid"]
    return url + "?" + urllib.parse.urlencode(params)


def test_web_chat_polling_transport_survives_malformed_packets(stack):
    url = f"{stack.stack.rasa_url}/socket.io/"

    @settings(FUZZ, max_examples=40)
    @given(body=st.one_of(st.binary(max_size=200), invalid_utf8,
                          st.builds(lambda kind, payload: kind.encode() + encode_json(payload, raw_utf8=True),
                                    st.from_regex(r"\A[0-9]{1,3}\Z"), json_values(odd_text()))
                          ),
           query=st.dictionaries(st.sampled_from(["EIO", "transport", "sid", "t", "j", "b64"]) | plain_text(10),
                                 plain_text(20), max_size=4),
           content_type=content_types, with_session=st.booleans(), again=st.booleans())
    def malformed(body, query, content_type, with_session, again):
        session = _engineio_session(stack.stack.rasa_url) if with_session else (
            url + "?" + urllib.parse.urlencode({"EIO": "4", "transport": "polling", **query}))
        for _ in range(2 if again else 1):  # the second POST may find the session closed by the first
            reply = post(session, body, {"Content-Type": content_type}, timeout=10)
            assert reply.status_code < 500, (reply.status_code, reply.text[:200])

    malformed()
    servers_alive(stack.stack.processes)


def test_fixed_crash_web_token_with_lone_surrogate(stack):
    assert _socketio_connect(stack.stack.rasa_url, {"token": "\ud800"}, timeout=3).startswith("44")


def test_fixed_crash_web_event_without_data(stack):
    session = _engineio_session(stack.stack.rasa_url)
    text = {"Content-Type": "text/plain;charset=UTF-8"}
    try:
        post(session, b"40", text)
        assert requests.get(session, timeout=10).text.startswith("40{")
        post(session, b'42["session_request"]\x1e421["user_uttered"]', text)  # the second asks for ack 1
        received, deadline = "", time.monotonic() + 3
        while not ('42["session_confirm"' in received and '431[{"ok":false' in received):
            received += requests.get(session, timeout=max(0.1, deadline - time.monotonic())).text
    finally:
        post(session, b"1", text)


def test_fixed_crash_engineio_post_after_close(stack):
    # python-engineio 4.15.1 (the newest) raised KeyError('Session is disconnected') out of the POST branch: a 500
    session = _engineio_session(stack.stack.rasa_url)
    assert post(session, b"1", {"Content-Type": "text/plain;charset=UTF-8"}).status_code == 200
    reply = post(session, b"1", {"Content-Type": "text/plain;charset=UTF-8"})
    assert (reply.status_code, reply.text) == (400, "Session is disconnected")


@pytest.mark.parametrize("packet", [b"0", b"2", b"6", b"7", b"4hi\x1e6"],
                         ids=["open", "ping", "noop", "unknown", "mixed"])
def test_fixed_hang_engineio_client_must_not_send_packet(stack, packet):
    # python-engineio raised UnknownPacketError, then waited in disconnect() for a long-poll to drain its CLOSE
    # packet: without one pending the POST hung for Rasa's response timeout (an hour)
    session = _engineio_session(stack.stack.rasa_url)
    reply = post(session, packet, {"Content-Type": "text/plain;charset=UTF-8"}, timeout=5)
    assert (reply.status_code, reply.text) == (400, "Unexpected packet type")
    assert requests.get(session, timeout=5).status_code == 400  # and the session is closed


# --- afterwards ---------------------------------------------------------------------------------------------

def test_the_servers_still_hold_a_normal_conversation_after_the_fuzzing(stack, webhook_server):
    servers_alive(stack.stack.processes)
    reply = stack.text(HEALTH_PHONE, "hi")
    assert reply.status == 200 and reply.text.strip()
    servers_alive([webhook_server.process])
    body = slack_signing.url_verification("still-here")
    reply = post(f"{webhook_server.url}/webhooks/recruiter_slack/events", body,
                 slack_signing.sign(SLACK_SIGNING_SECRET, body))
    assert (reply.status_code, reply.json()) == (200, {"challenge": "still-here"})
