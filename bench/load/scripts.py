"""The conversations simulated candidates have, drawn from a mix, with think time between messages.

- status: a greeting, "where's my application?" (the answer must name their stage), sometimes thanks;
- faq: two or three questions about the role, the benefits, the culture or the process;
- booking: ask to book the interview, confirm or name the time zone when asked, pick one of the offered
  times, and pick again when someone else took it first (the answer must end in "You're booked!");
- handoff: a question, then ask for a person (the answer must say a recruiter was asked). For some of them
  the recruiter claims the card in Slack ("has joined" must reach the candidate), the candidate writes (the
  bot must stay quiet), the recruiter replies in the thread (the reply must reach the candidate), hands
  back ("handed you back" must arrive), and the candidate asks for their status again (the bot answers).
  For the others the candidate writes once more while waiting (the bot must stay quiet).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.load.seed import Candidate
from bench.load.stats import GOT_REPLY, Message, Stats
from bench.load.transport import SORRY_MARK, GaveUp, Recruiter, Reply, SmsCandidate, TwilioInbox, WebCandidate
from bot.handoff_cards import CLAIM, HAND_BACK
from tests.fakes.slack_signing import block_action, event_callback, thread_reply_event

GREETINGS = ["hi", "hello", "hey there", "good morning", "hiya"]
STATUS_QUESTIONS = ["where's my application?", "any update??", "wheres my app", "status of my application pls",
                    "ANY NEWS ON MY APPLICATION", "have u heard anything back", "did i get the job"]
THANKS = ["thanks", "thx", "great thanks", "appreciate it"]
# Questions the assistant answers itself (not those it routes to a recruiter, such as the 401(k)).
FAQ_QUESTIONS = ["what's the salary for this role?", "do you offer remote work?", "where is the job located?",
                 "how many interview rounds are there?", "what benefits do you offer?",
                 "How much parental leave do you offer?", "is there a dress code", "what are your company values?",
                 "do you offer relocation support?",
                 "how much paid time off do you get?", "is there a learning budget?"]
BOOK = ["can I schedule my interview", "i want to book my interview", "book my interview pls"]
HUMAN = ["can I talk to a human", "let me speak to my recruiter", "i want to talk to a person not a bot",
         "get me a human"]
WHILE_WAITING = ["hello?", "are you there?", "ok I'll wait", "is anyone there"]
ZONES = ["Central", "Eastern", "Pacific", "Chicago"]
SLACK_PATIENCE = 180.0  # how long a recruiter watches for a card or a message before going on without it
MAX_PICKS = 6  # a candidate who loses this many races for a time in a row has failed to book


class Broken(Exception):
    """The conversation cannot go on (no reply, or not the reply it needs)."""


@dataclass
class Setting:
    stats: Stats
    recruiter: Recruiter
    twilio_inbox: TwilioInbox
    think: tuple[float, float]
    notice_timeout: float
    claim_share: float
    recruiter_user: str


class Conversation:
    def __init__(self, candidate: Candidate, client: SmsCandidate | WebCandidate, setting: Setting,
                 rng: random.Random) -> None:
        self.candidate, self.client, self.setting, self.rng = candidate, client, setting, rng
        self.sent = 0

    async def say(self, text: str, check: Callable[[str], bool] | None = None, what: str = "",
                  silent: bool = False) -> Reply:
        """Send one message after a pause, wait for its reply and record it. `check` must hold for the reply
        text; `silent`: no reply is expected (the conversation is with a recruiter)."""
        stats, channel, script = self.setting.stats, self.client.channel, self.candidate.script
        if self.sent:
            await asyncio.sleep(self.rng.uniform(*self.setting.think))
        self.sent += 1
        sent_at = time.monotonic()
        try:
            if isinstance(self.client, WebCandidate):
                reply = await self.client.say(text, expect_reply=not silent)
            else:
                reply = await self.client.say(text)
        except GaveUp as error:
            stats.troubled.add(self.candidate.id)
            stats.message(Message(channel, script, sent_at - stats.started, float("nan"), "failed", None, 0))
            stats.problem(f"{channel} message failed: {error}", text)
            raise Broken(f"failed: {error}") from None
        body = reply.text
        if reply.lost:
            outcome = "no reply"
        elif silent:
            outcome = "silent" if not body else "unexpected reply"
        elif not body:
            outcome = "no reply"
        elif SORRY_MARK in body:
            outcome = "server sorry"
        elif check is not None and not check(body):
            outcome = "wrong"
        else:
            outcome = "answered"
        stats.message(Message(channel, script, sent_at - stats.started, reply.latency, outcome, reply.replica,
                              reply.attempts))
        self.client.delivered.append((reply.key, outcome in GOT_REPLY))
        if outcome != "answered" and outcome != "silent":
            stats.troubled.add(self.candidate.id)
            stats.problem(f"{channel} {outcome}{f' ({what})' if what else ''}", f"{text!r} -> {body!r}")
            if outcome != "unexpected reply":
                raise Broken(outcome)
        return reply

    async def notice(self, fragment: str, what: str) -> bool:
        """Wait for an out-of-band message containing `fragment` (SMS at Twilio, web on the socket)."""
        stats, channel = self.setting.stats, self.client.channel
        started = time.perf_counter()
        deadline = started + self.setting.notice_timeout
        while time.perf_counter() < deadline:
            if self._arrived(fragment):
                stats.notice(channel, what, "live", time.perf_counter() - started)
                return True
            await asyncio.sleep(0.1)
        if isinstance(self.client, WebCandidate):
            # Not pushed to this visitor's socket: is it at least in the conversation (shown on reload)?
            history = await self.client.fresh_history()
            if any(fragment in (entry.get("text") or "") for entry in history if entry.get("sender") == "bot"):
                stats.notice(channel, what, "only in history", None)
                stats.troubled.add(self.candidate.id)
                stats.problem(f"web notice not received live, but in the history a reload shows ({what})",
                              self.candidate.email)
                return True
        stats.notice(channel, what, "missing", None)
        stats.troubled.add(self.candidate.id)
        stats.overdue.append((f"{channel} {what}", lambda: self._arrived(fragment), deadline))
        stats.problem(f"{channel} notice missing ({what})", self.candidate.name)
        return False

    def _arrived(self, fragment: str) -> bool:
        if isinstance(self.client, WebCandidate):
            return any(fragment in (message.get("text") or "") for _, message in self.client.inbox)
        return any(fragment in body for body in self.setting.twilio_inbox.bodies(self.client.phone))



async def status(talk: Conversation) -> str:
    await talk.say(talk.rng.choice(GREETINGS))
    await talk.say(talk.rng.choice(STATUS_QUESTIONS), lambda text: talk.candidate.stage in text, "status")
    if talk.rng.random() < 0.5:
        await talk.say(talk.rng.choice(THANKS))
    return "ok"


async def faq(talk: Conversation) -> str:
    for question in talk.rng.sample(FAQ_QUESTIONS, talk.rng.choice((2, 3))):
        await talk.say(question)
    return "ok"


async def booking(talk: Conversation) -> str:
    reply = await talk.say(talk.rng.choice(BOOK), what="ask to book")
    if "Is that right?" in reply.text:  # the zone inferred from the phone number, to confirm
        reply = await talk.say("yes", what="confirm time zone")
    elif "Which time zone" in reply.text:
        reply = await talk.say(talk.rng.choice(ZONES), what="name time zone")
    for _ in range(MAX_PICKS):
        if not reply.choices:
            talk.setting.stats.problem("booking: no times offered", reply.text)
            return "no times offered"
        reply = await talk.say(talk.rng.choice(reply.choices), what="pick a time")
        if "You're booked!" in reply.text:
            return "booked"
        if "just taken" not in reply.text and "closest open times" not in reply.text:
            talk.setting.stats.problem("booking: unexpected answer to a pick", reply.text)
            return "unexpected answer"
    talk.setting.stats.problem("booking: still not booked", talk.candidate.name)
    return f"not booked after {MAX_PICKS} picks"


async def handoff(talk: Conversation) -> str:
    setting, candidate = talk.setting, talk.candidate
    await talk.say(talk.rng.choice(STATUS_QUESTIONS + FAQ_QUESTIONS))
    await talk.say(talk.rng.choice(HUMAN), lambda text: "asked a recruiter" in text, "ask for a person")
    if talk.rng.random() >= setting.claim_share:
        await talk.say(talk.rng.choice(WHILE_WAITING), silent=True)
        return "waiting for a recruiter"
    card = await _in_slack(talk, "card posted", lambda: setting.recruiter.card_for(candidate.name))
    if card is None:
        return "no card in Slack"
    handoff_id = next(element["value"] for block in card.blocks if block["type"] == "actions"
                      for element in block["elements"] if element["action_id"] == CLAIM)
    user, problems = setting.recruiter_user, []
    await setting.recruiter.send(block_action(CLAIM, handoff_id, user=user, channel=card.channel,
                                              message_ts=card.ts))
    if not await talk.notice("has joined", "recruiter joined"):
        problems.append("join notice missing")
    question = f"{talk.rng.choice(['when will I hear back?', 'can we move my interview?'])} ({candidate.id})"
    await talk.say(question, silent=True)
    # The recruiter answers once the message shows in the card's thread (or gives up waiting and writes anyway).
    if not await _in_slack(talk, "candidate message in thread",
                           lambda: question in "\n".join(setting.recruiter.thread(card))):
        problems.append("message not relayed")
    answer = f"Hi {candidate.name.split()[0]}, I'll check and get back to you today ({candidate.id})"
    await asyncio.sleep(talk.rng.uniform(*setting.think))
    await setting.recruiter.send(event_callback(thread_reply_event(card.channel, card.ts, answer, user=user)))
    if not await talk.notice(answer, "recruiter reply"):
        problems.append("recruiter reply missing")
    await asyncio.sleep(talk.rng.uniform(*setting.think))
    await setting.recruiter.send(block_action(HAND_BACK, handoff_id, user=user, channel=card.channel,
                                              message_ts=card.ts))
    if not await talk.notice("handed you back", "handed back"):
        problems.append("hand-back notice missing")
        return ", ".join(problems)  # still with the recruiter: the status question would not be answered
    await talk.say(talk.rng.choice(STATUS_QUESTIONS), lambda text: candidate.stage in text, "status after handoff")
    return ", ".join(problems) or "claimed and handed back"


async def _in_slack(talk: Conversation, what: str, found: Callable[[], object]):
    """Wait for something the recruiter needs to see in the fake Slack: what it found, or None. It counts as
    late after --notice-timeout; the recruiter keeps watching for up to SLACK_PATIENCE before going on."""
    stats, started = talk.setting.stats, time.perf_counter()
    while time.perf_counter() - started < max(SLACK_PATIENCE, talk.setting.notice_timeout):
        result = found()
        if result:
            waited = time.perf_counter() - started
            on_time = waited <= talk.setting.notice_timeout
            stats.notice("slack", what, "live" if on_time else "late", waited)
            if not on_time:
                stats.problem(f"slack: {what} late (after {talk.setting.notice_timeout:.0f} s)", talk.candidate.name)
            return result
        await asyncio.sleep(0.2)
    stats.notice("slack", what, "missing", None)
    stats.problem(f"slack: {what} missing", talk.candidate.name)
    stats.troubled.add(talk.candidate.id)
    stats.overdue.append((f"slack {what}", lambda: bool(found()), time.perf_counter()))
    return None


SCRIPTS = {"status": status, "faq": faq, "booking": booking, "handoff": handoff}


async def run(talk: Conversation) -> None:
    script = talk.candidate.script
    try:
        outcome = await SCRIPTS[script](talk)
    except Broken as error:
        outcome = f"broken ({error})"
        talk.setting.stats.troubled.add(talk.candidate.id)
    except GaveUp as error:  # a recruiter's Slack request found no replica
        talk.setting.stats.problem(f"recruiter Slack request failed: {error}", talk.candidate.name)
        outcome = "Slack request failed"
    talk.setting.stats.conversations[(script, outcome)] += 1
