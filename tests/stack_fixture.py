"""A real running stack (action server + Rasa server) for integration tests and benchmarks."""

from __future__ import annotations

import email
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import requests

from bot.ats.seed import DEMO_SEED
from bot.settings import PROJECT_ROOT
from bot.sms import conversation_id_for
from bot.stack import DEFAULT_MODEL, Stack
from bot.twilio_webhook import inbound_params, signature_for, twiml_messages
from tests.fakes.twilio_api import FakeTwilioAPI

DEMO_KNOWLEDGE = PROJECT_ROOT / "data" / "knowledge" / "faqs.yml"
PUBLIC_BASE_URL = "https://candidates.acme.example"
TWILIO_NUMBER = "+16175550199"  # the company's SMS number
SLACK_SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documentation example
WEB_JWT_SECRET = "careers-site-shared-secret-for-tests"
ATS_WEBHOOK_SECRET = "generic-ats-webhook-secret-for-tests"
RECRUITING_CHANNEL = "C0RECRUIT"
FALLBACK_CHANNEL = "C0FALLBACK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ensure_model(model: Path = DEFAULT_MODEL) -> Path:
    """Train once if no model exists (rasa train itself skips when nothing changed)."""
    if not model.exists():
        subprocess.run([sys.executable, "-m", "rasa", "train", "--fixed-model-name", model.name.split(".")[0],
                        "--out", str(model.parent)], cwd=PROJECT_ROOT, check=True,
                       env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"})
    return model


@dataclass
class SmsReply:
    status: int
    body: str

    @property
    def messages(self) -> list[str]:
        return twiml_messages(self.body) if self.status == 200 else []

    @property
    def text(self) -> str:
        return "\n".join(self.messages)


@dataclass
class RunningStack:
    stack: Stack
    workdir: Path
    auth_token: str
    public_url: str
    conversation_key: str
    api_token: str
    ops_token: str = ""  # what the status pages (GET /webhooks/<channel>) want for their queue counts

    def ops_status(self, channel: str) -> dict:
        """A channel's status page as the team that runs the assistant sees it: with the queue counts."""
        reply = requests.get(f"{self.stack.rasa_url}/webhooks/{channel}", timeout=10,
                             headers={"Authorization": f"Bearer {self.ops_token}"})
        reply.raise_for_status()
        return reply.json()

    def sign(self, params: dict, token: str | None = None, url: str | None = None) -> str:
        return signature_for(url or self.public_url, params, token or self.auth_token)

    def post(self, params: dict, signature: str | None, content_type: str | None = None,
             body: bytes | None = None) -> SmsReply:
        headers = {"Content-Type": content_type or "application/x-www-form-urlencoded"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        data = body if body is not None else urllib.parse.urlencode(params).encode()
        reply = requests.post(self.stack.sms_webhook_url, data=data, headers=headers, timeout=60)
        return SmsReply(reply.status_code, reply.text)

    def text(self, sender: str, body: str, message_sid: str | None = None) -> SmsReply:
        params = inbound_params(sender, body, message_sid=message_sid)
        return self.post(params, self.sign(params))

    def conversation_id(self, phone: str) -> str:
        return conversation_id_for(phone, self.conversation_key)

    def tracker_events(self, phone: str) -> list[dict]:
        reply = requests.get(f"{self.stack.rasa_url}/conversations/{self.conversation_id(phone)}/tracker",
                             params={"token": self.api_token}, timeout=30)
        reply.raise_for_status()
        return reply.json()["events"]

    def user_messages(self, phone: str) -> list[str]:
        return [event.get("text") for event in self.tracker_events(phone) if event["event"] == "user"]

    def codes_sent(self, to: str, at_least: int = 0, timeout: float = 20.0) -> list[str]:
        """The verification codes emailed to an address so far (the local outbox), oldest first. Codes go out in
        the background after the chat's reply, so this waits, up to timeout, until there are at least at_least."""
        deadline = time.monotonic() + timeout
        while True:
            sent = [email.message_from_bytes(path.read_bytes())
                    for path in sorted((self.workdir / "email-outbox").glob("*.eml"))]
            codes = [re.search(r"code: (\d{6})", message["Subject"]).group(1) for message in sent
                     if message["To"] == to]
            if len(codes) >= at_least or time.monotonic() > deadline:
                return codes
            time.sleep(0.1)


def slack_env(slack_api) -> dict[str, str]:
    """Settings that connect the recruiters' Slack app to a fake Slack Web API, recruiters always in."""
    return {"SLACK_BOT_TOKEN": slack_api.bot_token, "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
            "SLACK_API_URL": slack_api.base_url + "/api/", "SLACK_HANDOFF_CHANNEL": RECRUITING_CHANNEL,
            "SLACK_FALLBACK_CHANNEL": FALLBACK_CHANNEL, "RECRUITING_HOURS": "Mon-Sun 00:00-23:59"}


def start_stack(workdir: Path, extra_env: dict[str, str] | None = None,
                twilio_api: FakeTwilioAPI | None = None) -> RunningStack:
    """Start the stack; with a fake Twilio API, out-of-band SMS (reminders) are sent to it."""
    workdir.mkdir(parents=True, exist_ok=True)
    auth_token = twilio_api.auth_token if twilio_api else secrets.token_hex(16)
    api_token, key, ops_token = secrets.token_hex(16), secrets.token_hex(8), secrets.token_hex(16)
    rasa_port, action_port = free_port(), free_port()
    # Twilio signs the public URL it was given; the proxy in front of us forwards to a local port.
    public_url = f"{PUBLIC_BASE_URL}/webhooks/twilio/webhook"
    knowledge = workdir / "faqs.yml"  # a copy the tests may edit while the servers run
    knowledge.write_text(DEMO_KNOWLEDGE.read_text())
    env = {
        "KNOWLEDGE_FILE": str(knowledge),
        "ATS_DATABASE": str(workdir / "ats.db"),
        "ATS_SEED_FILE": str(DEMO_SEED),
        "ATS_TIMEOUT_SECONDS": "1.5",
        "STATE_DATABASE": str(workdir / "state.db"),
        "TRACKER_DB": str(workdir / "tracker.db"),
        "TWILIO_AUTH_TOKEN": auth_token,
        "TWILIO_WEBHOOK_URL": public_url,
        "CONVERSATION_ID_KEY": key,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "DELIVERY_POLL_SECONDS": "0.3",
        "WEB_JWT_SECRET": WEB_JWT_SECRET,
        "EMAIL_OUTBOX_DIR": str(workdir / "email-outbox"),  # no SMTP here: verification emails land in files
        # Every test's browser comes from 127.0.0.1, one client address for the whole suite: its limit on codes is
        # raised so that tests do not use up each other's (tests/test_email_codes.py checks the limit itself).
        "EMAIL_CODE_LIMIT_PER_CLIENT": "100",
        # Not local use (PUBLIC_BASE_URL is public), so the server's start-up checks apply: the chat is open only to
        # the careers site and to the demo page the browser tests load, and there is no demo login (the browser
        # tests sign in with a token of the careers site's, tests/test_widget_browser.py).
        "WEB_ALLOWED_ORIGINS": f"{PUBLIC_BASE_URL},http://127.0.0.1:{rasa_port}",
        "ATS_WEBHOOK_SECRET": ATS_WEBHOOK_SECRET,
        "OPS_TOKEN": ops_token,
        # Deterministic at any hour of the day, and no recruiter nudges in other tests' Slack channels.
        "QUIET_HOURS": "off",
        "STALE_APPLICATION_DAYS": "0",
        # Every test and benchmark reaches this one stack from one address with a few numbers, faster than a
        # candidate types: no rate limits here (tests/test_rate_limits.py and test_channel_limits.py test them).
        "RATE_LIMIT_MESSAGES_PER_MINUTE": "0", "RATE_LIMIT_WEB_SESSIONS_PER_HOUR": "0",
        "RATE_LIMIT_HANDOFFS_PER_HOUR": "0", "RATE_LIMIT_CLIENT_HANDOFFS_PER_HOUR": "0",
        **({"TWILIO_ACCOUNT_SID": twilio_api.account_sid, "TWILIO_FROM_NUMBER": TWILIO_NUMBER,
            "TWILIO_API_BASE_URL": twilio_api.base_url} if twilio_api else {}),
        **(extra_env or {}),
    }
    stack = Stack(rasa_port=rasa_port, action_port=action_port, model=ensure_model(), env=env,
                  log_dir=workdir / "logs", api_token=api_token)
    stack.start()
    return RunningStack(stack, workdir, auth_token, public_url, key, api_token, ops_token)
