"""Benchmark: SMS candidates handed to recruiters in Slack, and the recruiters' replies carried back.

Starts a real stack with the recruiters' Slack app pointed at the fake Slack Web API and SMS sent
through the fake Twilio API (tests/fakes), on a generated ATS. Each simulated candidate asks for a
person; their recruiter claims the card, the candidate writes, the recruiter replies in the thread
and hands back. Prints, per step, the latency of the request itself (SMS webhook, or Slack request
to its acknowledgement, which Slack wants within 3 s) and the time until the result arrives on the
other side (card or thread message in Slack, SMS at Twilio), and checks nothing was lost or sent
twice.

  .venv/bin/python bench/handoff.py --sequential 10 --concurrent 30
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sms_status import generated_seed, percentile  # noqa: E402
from bot.handoff_cards import CLAIM, HAND_BACK  # noqa: E402
from bot.twilio_webhook import inbound_params, twiml_messages  # noqa: E402
from tests.fakes.slack_api import FakeSlackAPI, PostedMessage  # noqa: E402
from tests.fakes.slack_signing import block_action, event_callback, sign, thread_reply_event  # noqa: E402
from tests.fakes.twilio_api import FakeTwilioAPI  # noqa: E402
from tests.stack_fixture import SLACK_SIGNING_SECRET, ensure_model, slack_env, start_stack  # noqa: E402

RECRUITER = "U0DANA"  # recruiter r1 in the demo seed, whom every generated candidate has


class Run:
    def __init__(self, running, slack: FakeSlackAPI, sms: FakeTwilioAPI) -> None:
        self.running, self.slack, self.sms = running, slack, sms
        self.latency: dict[str, list[float]] = collections.defaultdict(list)
        self.errors: list[str] = []

    async def _timed(self, step: str, request) -> aiohttp.ClientResponse:
        started = time.perf_counter()
        reply = await request
        await reply.read()
        self.latency[step].append(time.perf_counter() - started)
        if reply.status != 200:
            self.errors.append(f"{step}: HTTP {reply.status}")
        return reply

    async def text(self, session: aiohttp.ClientSession, phone: str, body: str, step: str) -> list[str]:
        params = inbound_params(phone, body)
        headers = {"X-Twilio-Signature": self.running.sign(params),
                   "Content-Type": "application/x-www-form-urlencoded"}
        reply = await self._timed(step, session.post(self.running.stack.sms_webhook_url,
                                                     data=urllib.parse.urlencode(params), headers=headers))
        return twiml_messages(await reply.text())

    async def from_slack(self, session: aiohttp.ClientSession, body: bytes, step: str) -> None:
        url = f"{self.running.stack.rasa_url}/webhooks/recruiter_slack/events"
        await self._timed(step, session.post(url, data=body, headers=sign(SLACK_SIGNING_SECRET, body)))

    async def arrives(self, step: str, started: float, found: Callable[[], object], timeout: float = 60.0):
        while time.perf_counter() - started < timeout:
            result = found()
            if result:
                self.latency[step].append(time.perf_counter() - started)
                return result
            await asyncio.sleep(0.01)
        self.errors.append(f"{step}: nothing arrived within {timeout:.0f}s")
        return None

    def _sms(self, phone: str, fragment: str) -> str | None:
        return next((m.body for m in self.sms.messages if m.to == phone and fragment in m.body), None)

    async def candidate(self, session: aiohttp.ClientSession, phone: str, name: str) -> None:
        started = time.perf_counter()
        answer = await self.text(session, phone, "can I talk to a human", "1 ask for a person (SMS reply)")
        if not any("asked a recruiter" in line for line in answer):
            self.errors.append(f"unexpected answer: {answer}")
            return
        card: PostedMessage | None = await self.arrives(
            "1 ... card in Slack", started, lambda: next((m for m in self.slack.posted if m.thread_ts is None
                                                          and f"{name}\"" in json.dumps(m.blocks or "")), None))
        if card is None:
            return
        handoff_id = next(e["value"] for b in card.blocks if b["type"] == "actions" for e in b["elements"])

        started = time.perf_counter()
        await self.from_slack(session, block_action(CLAIM, handoff_id, user=RECRUITER, channel=card.channel,
                                               message_ts=card.ts), "2 claim (Slack ack)")
        await self.arrives("2 ... 'has joined' SMS", started, lambda: self._sms(phone, "has joined"))

        started = time.perf_counter()
        question = f"when will I hear back? ({name})"
        silent = await self.text(session, phone, question, "3 candidate writes (SMS reply)")
        if silent:
            self.errors.append(f"the bot answered during a handoff: {silent}")
        await self.arrives("3 ... message in the thread", started, lambda: any(
            question in (m.text or "") for m in self.slack.messages_in(card.channel, thread_ts=card.ts)))

        started = time.perf_counter()
        reply = f"Hi {name}, this week"
        await self.from_slack(session, event_callback(thread_reply_event(card.channel, card.ts, reply, user=RECRUITER)),
                         "4 recruiter replies (Slack ack)")
        await self.arrives("4 ... reply by SMS", started, lambda: self._sms(phone, reply))

        started = time.perf_counter()
        await self.from_slack(session, block_action(HAND_BACK, handoff_id, user=RECRUITER, channel=card.channel,
                                               message_ts=card.ts), "5 hand back (Slack ack)")
        await self.arrives("5 ... 'handed you back' SMS", started, lambda: self._sms(phone, "handed you back"))

    async def run(self, candidates: list[tuple[str, str]], concurrent: bool) -> float:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            started = time.perf_counter()
            if concurrent:
                await asyncio.gather(*(self.candidate(session, phone, name) for phone, name in candidates))
            else:
                for phone, name in candidates:
                    await self.candidate(session, phone, name)
            return time.perf_counter() - started

    def print(self, title: str, seconds: float, candidates: list[tuple[str, str]]) -> None:
        duplicates = [p for p, _ in candidates
                      if sum(1 for m in self.sms.messages if m.to == p and m.body.startswith("Dana: ")) > 1]
        print(f"\n{title}: {len(candidates)} handoffs in {seconds:.1f} s, {len(self.errors)} errors, "
              f"{len(duplicates)} replies sent twice")
        for error in self.errors[:5]:
            print(f"  error: {error}")
        for step in sorted(self.latency):
            values = self.latency[step]
            print(f"  {step:36} n={len(values):<4} p50={percentile(values, .5) * 1000:7.0f} ms  "
                  f"p95={percentile(values, .95) * 1000:7.0f} ms  max={max(values) * 1000:7.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequential", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=30)
    args = parser.parse_args()
    total = args.sequential + args.concurrent
    seed = generated_seed(total)
    slack = FakeSlackAPI()
    slack.users[RECRUITER] = {"real_name": "Dana Lee", "name": "dana", "email": "dana@acme.example",
                              "tz": "America/New_York"}
    slack.start()
    sms = FakeTwilioAPI().start()
    ensure_model()
    with tempfile.TemporaryDirectory() as scratch:
        seed_file = Path(scratch) / "seed.yml"
        seed_file.write_text(yaml.safe_dump(seed))
        env = {**slack_env(slack), "ATS_SEED_FILE": str(seed_file), "DELIVERY_POLL_SECONDS": "5"}
        running = start_stack(Path(scratch) / "stack", extra_env=env, twilio_api=sms)
        try:
            people = [(c["phone"], c["name"]) for c in seed["candidates"]]
            print("Delivery loops poll every 5 s (SMS) and 1 s (handoffs); work queued inside the Rasa server "
                  "(Slack requests, inbound SMS, queued SMS) wakes them at once.")
            first = Run(running, slack, sms)
            first.print(f"{args.sequential} candidates one after another", asyncio.run(
                first.run(people[:args.sequential], concurrent=False)), people[:args.sequential])
            second = Run(running, slack, sms)
            second.print(f"{args.concurrent} candidates at the same moment", asyncio.run(
                second.run(people[args.sequential:], concurrent=True)), people[args.sequential:])
        finally:
            running.stack.stop()
            slack.stop()
            sms.stop()


if __name__ == "__main__":
    main()
