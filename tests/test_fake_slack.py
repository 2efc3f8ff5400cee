"""The fake Slack Web API and the signed-request helpers behave like Slack for slack_sdk."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import FakeSlackAPI, PostedMessage
from tests.fakes.slack_signing import block_action, event_callback, sign, thread_reply_event, url_verification

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Ana Silva* asked a question"}},
          {"type": "actions", "block_id": "answer",
           "elements": [{"type": "button", "action_id": "approve", "value": "q-1",
                         "text": {"type": "plain_text", "text": "Approve"}}]}]


@pytest.fixture()
def slack():
    fake = FakeSlackAPI().start()
    yield fake
    fake.stop()


def _client(fake: FakeSlackAPI, token: str | None = None, timeout: int = 5) -> AsyncWebClient:
    return AsyncWebClient(token=token or fake.bot_token, base_url=fake.base_url + "/api/", timeout=timeout)


async def test_the_methods_slack_sdk_calls(slack):
    client = _client(slack)

    auth = await client.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == ("U0BOT", "B0BOT", "T0FAKE")

    parent = await client.chat_postMessage(channel="C0RECRUIT", text="Ana Silva asked a question", blocks=BLOCKS)
    reply = await client.chat_postMessage(channel="C0RECRUIT", text="Details", thread_ts=parent["ts"])
    assert parent["channel"] == "C0RECRUIT" and parent["message"]["blocks"] == BLOCKS
    assert reply["ts"] > parent["ts"] and reply["message"]["thread_ts"] == parent["ts"]
    assert [m.text for m in slack.messages_in("C0RECRUIT")] == ["Ana Silva asked a question", "Details"]
    assert [m.text for m in slack.messages_in("C0RECRUIT", thread_ts=parent["ts"])] == ["Details"]

    updated = await client.chat_update(channel="C0RECRUIT", ts=parent["ts"], text="Answered", blocks=[])
    assert (updated["ts"], updated["text"]) == (parent["ts"], "Answered")
    assert slack.messages_in("C0RECRUIT")[0].text == "Answered" and slack.updates[0].blocks == []
    with pytest.raises(SlackApiError) as missing:
        await client.chat_update(channel="C0RECRUIT", ts="1.000001", text="x")
    assert missing.value.response["error"] == "message_not_found"

    user = (await client.users_info(user="U0MARIA"))["user"]
    assert (user["real_name"], user["tz"], user["profile"]["email"]) == (
        "Maria Lopez", "America/New_York", "maria.lopez@acme.example")
    with pytest.raises(SlackApiError) as unknown:
        await client.users_info(user="U0NOBODY")
    assert unknown.value.response["error"] == "user_not_found"

    dm = (await client.conversations_open(users=["U0MARIA"]))["channel"]["id"]
    direct = await client.chat_postMessage(channel="U0MARIA", text="Hi Maria")
    assert dm.startswith("D") and direct["channel"] == dm
    assert slack.wait_for(lambda m: m.text == "Hi Maria", timeout=1).channel == dm
    assert [m for m, _ in slack.calls] == ["auth.test", "chat.postMessage", "chat.postMessage", "chat.update",
                                           "users.info", "conversations.open", "chat.postMessage"]


async def test_an_ephemeral_message_is_seen_by_one_user_and_is_not_a_posted_message(slack):
    client = _client(slack)
    parent = await client.chat_postMessage(channel="C0RECRUIT", text="a card")
    shown = await client.chat_postEphemeral(channel="C0RECRUIT", user="U0MARIA", text="only for Maria",
                                            thread_ts=parent["ts"])
    assert shown["ok"] and shown["message_ts"] > parent["ts"]
    assert [(m.channel, m.user, m.text, m.thread_ts) for m in slack.ephemerals] == [
        ("C0RECRUIT", "U0MARIA", "only for Maria", parent["ts"])]
    assert [m.text for m in slack.posted] == ["a card"]
    with pytest.raises(SlackApiError) as stranger:
        await client.chat_postEphemeral(channel="C0RECRUIT", user="U0NOBODY", text="hi")
    assert stranger.value.response["error"] == "user_not_in_channel"
    with pytest.raises(SlackApiError) as empty:
        await client.chat_postEphemeral(channel="C0RECRUIT", user="U0MARIA", text="")
    assert empty.value.response["error"] == "no_text"


async def test_form_encoded_calls_with_a_token_parameter(slack):
    form = urllib.parse.urlencode({"token": slack.bot_token, "channel": "C0RECRUIT", "text": "hi",
                                   "blocks": json.dumps(BLOCKS)}).encode()
    with urllib.request.urlopen(f"{slack.base_url}/api/chat.postMessage", form, timeout=5) as response:  # noqa: S310
        answer = json.load(response)
    assert answer["ok"] and slack.posted[0].blocks == BLOCKS


async def test_errors_are_slack_errors(slack):
    with pytest.raises(SlackApiError) as bad_token:
        await _client(slack, token="xoxb-wrong").chat_postMessage(channel="C0RECRUIT", text="hi")
    assert bad_token.value.response.status_code == 200 and bad_token.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as unknown:
        await _client(slack).api_call("chat.nonsense")
    assert unknown.value.response["error"] == "unknown_method"
    with pytest.raises(SlackApiError) as no_channel:
        await _client(slack).chat_postMessage(channel="", text="hi")
    assert no_channel.value.response["error"] == "channel_not_found"
    assert slack.posted == [] and slack.calls == []


async def test_a_500_fails_one_call(slack):
    client = _client(slack)
    slack.fail_next(1, "500")
    with pytest.raises(SlackApiError) as failed:
        await client.chat_postMessage(channel="C0RECRUIT", text="first try")
    assert failed.value.response.status_code == 500
    await client.chat_postMessage(channel="C0RECRUIT", text="second try")
    assert [m.text for m in slack.posted] == ["second try"] and slack.requests == 2


async def test_a_hang_times_the_client_out_and_does_not_block_stop():
    fake = FakeSlackAPI().start()
    client = _client(fake, timeout=1)
    fake.fail_next(1, "hang")
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await client.chat_postMessage(channel="C0RECRUIT", text="lost")
    assert time.monotonic() - started < 5
    assert (await client.chat_postMessage(channel="C0RECRUIT", text="kept"))["ok"]
    assert [m.text for m in fake.posted] == ["kept"]
    fake.fail_next(1, "hang")
    with pytest.raises(asyncio.TimeoutError):
        await client.auth_test()
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 5


def test_wait_for_lists_what_was_posted(slack):
    slack.posted.append(PostedMessage("C0RECRUIT", "1732620000.000100", "something else", None))
    with pytest.raises(AssertionError, match="something else"):
        slack.wait_for(lambda m: m.text == "never", timeout=0.2)


def test_sign_agrees_with_slack_sdk():
    verifier = SignatureVerifier("s3cret")
    body = event_callback(thread_reply_event("C0RECRUIT", "1732620000.000100", "approve it"))
    headers = sign("s3cret", body)
    assert verifier.is_valid_request(body, headers)
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert headers["Content-Type"] == "application/json"
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    assert not verifier.is_valid_request(body + b" ", headers)
    assert not verifier.is_valid_request(body, sign("s3cret", body, timestamp=int(time.time()) - 600))

    envelope = json.loads(body)
    assert envelope["type"] == "event_callback" and envelope["event_id"].startswith("Ev")
    assert envelope["authorizations"][0] == {"enterprise_id": None, "team_id": "T0FAKE", "user_id": "U0BOT",
                                             "is_bot": True, "is_enterprise_install": False}
    event = envelope["event"]
    assert (event["type"], event["channel_type"], event["thread_ts"]) == ("message", "channel", "1732620000.000100")
    assert thread_reply_event("D0MARIA", "1.000001", "hi")["channel_type"] == "im"

    click = block_action("approve", "q-1", message_ts="1732620000.000200")
    assert sign("s3cret", click)["Content-Type"] == "application/x-www-form-urlencoded"
    assert verifier.is_valid_request(click, sign("s3cret", click))
    payload = json.loads(urllib.parse.parse_qs(click.decode())["payload"][0])
    assert payload["type"] == "block_actions" and payload["user"]["id"] == "U0MARIA"
    assert payload["container"] == {"type": "message", "message_ts": "1732620000.000200", "channel_id": "C0RECRUIT",
                                    "is_ephemeral": False}
    assert (payload["actions"][0]["action_id"], payload["actions"][0]["value"]) == ("approve", "q-1")
    assert json.loads(url_verification("abc")) == {"token": "fake-verification-token", "challenge": "abc",
                                                   "type": "url_verification"}
