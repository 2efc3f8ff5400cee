"""No personal data in the servers' logs at INFO: no phone number, email, message text, code or token.

tests/test_sms_integration.py greps the logs after one SMS status. This drives every channel and
every task that handles personal data through the shared stack (which runs both servers at INFO,
writing to <workdir>/logs/*.log): an SMS status with a numbered choice, a careers-site candidate
signed in by token, an anonymous visitor verified by a code sent to their email, handoffs to a
recruiter over SMS and the web chat, and an interview booked and cancelled over SMS. Then it reads
what every log file gained meanwhile, and the start-up part of each, for every demo candidate's and
recruiter's phone number (in the ways people write them) and email, the messages sent, the code and
the tokens.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.probe_identity import WebVisitor, phone_formats
from bot.ats.seed import read_seed_file
from bot.webchat import signed_token
from tests.conftest import DEMO_SEED
from tests.stack_fixture import ATS_WEBHOOK_SECRET, WEB_JWT_SECRET

pytestmark = pytest.mark.integration

JAMES, TOM, LENA = "+16175550102", "+16175550106", "+4915112345678"
# Tom's web chat: the widget's browser tests use Diego's, Lena's, Aisha's and Omar's afterwards.
TOM_EMAIL, AISHA_EMAIL = "tom.becker@example.com", "aisha.bello@example.co.uk"
SEED = read_seed_file(DEMO_SEED)
PHONES = sorted({form for c in SEED.candidates if c.phone
                 for form in phone_formats(c.phone)})  # the seed holds them in E.164
EMAILS = sorted({c.email for c in SEED.candidates if c.email} | {r.email for r in SEED.recruiters})
JWT = re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*")
READY = {"rasa.log": "Rasa server is up and running", "actions.log": "Action endpoint is up and running"}


@dataclass
class Traffic:
    logs: dict[str, str]  # what each log file gained while the conversations ran
    said: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # careers-site JWTs and calendar-invite tokens

    @property
    def text(self) -> str:
        return "\n".join(self.logs.values())


def _log_files(stack) -> list[Path]:
    return sorted((stack.workdir / "logs").glob("*.log"))


def _sizes(stack) -> dict[Path, int]:
    return {path: path.stat().st_size for path in _log_files(stack)}


def _gained(stack, sizes: dict[Path, int]) -> dict[str, str]:
    gained = {}
    for path in _log_files(stack):
        with path.open("rb") as log:
            log.seek(sizes.get(path, 0))
            gained[path.name] = log.read().decode(errors="replace")
    return gained


class Conversations:
    """Everything said, kept so the logs can be searched for it."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.said: list[str] = []
        self.codes: list[str] = []
        self.tokens: list[str] = []

    def sms(self, phone: str, text: str) -> str:
        self.said.append(text)
        reply = self.stack.text(phone, text)
        assert reply.status == 200
        return reply.text

    async def web(self, visitor: WebVisitor, text: str) -> str:
        self.said.append(text)
        before = len(visitor.received)
        assert (await visitor.say(text))["ok"]
        await asyncio.sleep(0.3)
        return "\n".join(visitor.texts()[before:])


@pytest.fixture(scope="module")
def traffic(stack) -> Traffic:
    sizes = _sizes(stack)
    talk = Conversations(stack)

    # SMS: a status with several applications, then a numbered choice.
    assert "Reply with a number" in talk.sms(JAMES, "hi it's James Carter james.carter@example.com, how are my "
                                                    "applications going?")
    assert "Recruiter Screen" in talk.sms(JAMES, "1")

    # SMS: a handoff to a recruiter, and a message relayed to them.
    assert "recruit" in talk.sms(TOM, "I'd like to talk to a real person please, call me on (617) 555-0106")
    talk.sms(TOM, "my personal email is tom.becker@example.com if that is easier")

    # SMS: an interview booked, then cancelled.
    reply = talk.sms(LENA, "can I book my technical interview please")
    if "Is that right?" in reply:
        reply = talk.sms(LENA, "yes")
    booked = talk.sms(LENA, "1")
    assert "You're booked!" in booked, booked
    talk.tokens.append(re.search(r"/invite/([\w-]+)\.ics", booked).group(1))
    assert "cancel" in talk.sms(LENA, "something came up, please cancel my interview")
    assert "is cancelled" in talk.sms(LENA, "yes")

    async def web() -> None:
        # The careers site's signed-in candidate.
        token = signed_token(TOM_EMAIL, WEB_JWT_SECRET)
        talk.tokens.append(token)
        tom = await WebVisitor(stack.stack.rasa_url, token).open()
        assert "accepted the offer" in await talk.web(tom, "where's my application? my cell is 310-555-0110")
        await tom.close()
        # An anonymous visitor verified by a code sent to their email.
        aisha = await WebVisitor(stack.stack.rasa_url).open()
        assert "once I know it's you" in await talk.web(aisha, "hello, where is my application at the moment?")
        await talk.web(aisha, "/verify_email")
        assert "6-digit code" in await talk.web(aisha, AISHA_EMAIL)
        talk.codes.append(stack.codes_sent(AISHA_EMAIL, at_least=1)[-1])
        assert "Offer" in await talk.web(aisha, talk.codes[-1])
        await aisha.close()
        # An anonymous visitor asking for a person (the widget's button), then telling them how to call back.
        visitor = await WebVisitor(stack.stack.rasa_url).open()
        assert "recruit" in await talk.web(visitor, "/request_human")
        await talk.web(visitor, "I'm Nora Quinn, please call me back on 617-555-0107 this afternoon")
        await visitor.close()

    asyncio.run(web())
    time.sleep(1.5)  # the delivery loops (handoff cards, reminders) log what they do with it
    return Traffic(_gained(stack, sizes), talk.said, talk.codes, talk.tokens)


def test_both_servers_log_at_info(stack, traffic):
    assert {path.name for path in _log_files(stack)} >= set(READY) and set(traffic.logs) >= set(READY)
    for path in _log_files(stack):
        assert re.search(r"^\S+ \S+ INFO ", path.read_text(errors="replace"), re.MULTILINE), path.name


def test_no_phone_number_in_any_format(traffic):
    assert [phone for phone in PHONES if phone in traffic.text] == []


def test_no_email_address(traffic):
    assert [address for address in EMAILS if address.lower() in traffic.text.lower()] == []


def test_no_message_text(traffic):
    # Short answers ("yes", "1") are everywhere in a log; the sentences are what would give a person away.
    sentences = [text for text in traffic.said if len(text) >= 12]
    assert sentences and [text for text in sentences if text in traffic.text] == []


def test_no_verification_code_or_token(traffic):
    assert traffic.codes and traffic.tokens
    codes = [code for code in traffic.codes if re.search(rf"(?<![0-9A-Za-z]){code}(?![0-9A-Za-z])", traffic.text)]
    assert codes == []
    assert [token for token in traffic.tokens if token in traffic.text] == []
    assert JWT.findall(traffic.text) == []


def test_start_up_logs_hold_no_personal_data_or_secrets(stack, traffic):
    """What the servers log while starting (the seed they load, their settings) holds no candidate and no secret."""
    secrets_ = [stack.auth_token, stack.api_token, stack.conversation_key, WEB_JWT_SECRET, ATS_WEBHOOK_SECRET]
    for path in _log_files(stack):
        text = path.read_text(errors="replace")
        start_up = text[:text.index(READY[path.name])] if READY.get(path.name, "\0") in text else text
        found = [s for s in PHONES + EMAILS + secrets_ if s in start_up] + JWT.findall(start_up)
        assert found == [], path.name
        assert [s for s in secrets_ if s in text] == [], path.name  # and no secret at any time


def test_a_message_that_starts_with_a_slash_is_not_logged_either(stack, traffic):
    sizes = _sizes(stack)
    text = "/help this is james.carter@example.com, since " + dt.date.today().isoformat()
    assert stack.text(JAMES, text).status == 200
    time.sleep(0.5)
    logs = "\n".join(_gained(stack, sizes).values())
    assert text not in logs and "james.carter@example.com" not in logs
