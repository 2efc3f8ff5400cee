"""Benchmark: booking interviews over the signed SMS webhook, one candidate at a time and many at once.

Starts a real stack on a generated ATS: one job whose "Technical Interview" stage is a 30-minute
video call with a single interviewer (so every booking competes for the same calendar), and
candidates at that stage with US numbers. Half of them have a time zone on file; for the other
half it is inferred from the phone number and confirmed, which costs one more message.

Each candidate texts "can I schedule my interview", confirms the time zone if asked, and replies
with the number of one of the offered times; when someone else took that time first, the
assistant offers the times still open and the candidate picks again. The benchmark prints how many
messages a booking took, the latency of each step, and checks the ATS afterwards: one booking per
candidate and no two bookings overlapping.

  .venv/bin/python bench/booking.py --sequential 10 --concurrent 30
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import random
import re
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sms_status import percentile, report  # noqa: E402
from bot.ats.embedded import EmbeddedATS  # noqa: E402
from bot.settings import PROJECT_ROOT  # noqa: E402
from bot.twilio_webhook import inbound_params, twiml_messages  # noqa: E402
from tests.stack_fixture import ensure_model, start_stack  # noqa: E402

EVERY_DAY = {day: ["08:00-20:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
MAX_PICKS = 6  # a candidate who loses this many races in a row counts as an error


def generated_seed(count: int) -> dict:
    demo = yaml.safe_load((PROJECT_ROOT / "data" / "demo" / "ats_seed.yml").read_text())
    job = {"id": "jb", "title": "Benchmark Engineer", "location": "Remote (US)", "remote": "remote",
           "department": "Engineering",
           "stages": ["Application Review", {"name": "Technical Interview", "interview": {
               "format": "video", "duration_minutes": 30, "interviewers": ["i-bench"],
               "video_link": "https://meet.acme.example/bench"}}, "Offer"]}
    candidates = [{
        "id": f"b{n}", "name": f"Bench Candidate{n}", "email": f"bench{n}@example.com",
        "phone": f"+1{('617', '415', '312', '206')[n // 100 % 4]}555{100 + n % 100:04d}",
        **({"timezone": "America/Chicago"} if n % 2 else {}),
        "applications": [{"job": "jb", "stage": "Technical Interview", "stage_changed": "2026-11-15",
                          "recruiter": "r1", "status": "active"}],
    } for n in range(count)]
    interviewer = {"id": "i-bench", "name": "Bench Interviewer", "title": "Engineer",
                   "timezone": "America/New_York", "hours": EVERY_DAY}
    return {**demo, "interviewers": [*demo.get("interviewers", []), interviewer],
            "jobs": [*demo["jobs"], job], "candidates": candidates}


def _choices(text: str) -> list[str]:
    return re.findall(r"^\d+ - (.+)$", text, flags=re.MULTILINE)


class Driver:
    def __init__(self, running) -> None:
        self.running = running
        self.latency: dict[str, list[float]] = collections.defaultdict(list)
        self.messages_per_booking: list[int] = []
        self.errors: list[str] = []

    async def say(self, session: aiohttp.ClientSession, phone: str, text: str, step: str) -> str:
        params = inbound_params(phone, text)
        headers = {"X-Twilio-Signature": self.running.sign(params),
                   "Content-Type": "application/x-www-form-urlencoded"}
        started = time.perf_counter()
        async with session.post(self.running.stack.sms_webhook_url, data=urllib.parse.urlencode(params),
                                headers=headers) as reply:
            body = await reply.text()
        self.latency[step].append(time.perf_counter() - started)
        return "\n".join(twiml_messages(body)) if reply.status == 200 else f"HTTP {reply.status}"

    async def book(self, session: aiohttp.ClientSession, phone: str) -> None:
        sent = 1
        reply = await self.say(session, phone, "can I schedule my interview", "1 ask to book")
        if reply.startswith("Before I show you times"):
            reply = await self.say(session, phone, "yes", "2 confirm time zone")
            sent += 1
        for _ in range(MAX_PICKS):
            offered = _choices(reply)
            if not offered:
                self.errors.append(f"no times offered: {reply[:80]!r}")
                return
            reply = await self.say(session, phone, str(random.randint(1, len(offered))), "3 pick a time")
            sent += 1
            if "You're booked!" in reply:
                self.messages_per_booking.append(sent)
                return
            # Taken between the offer and the pick: at booking ("just taken") or when the pick is read
            # ("nothing is free ... the closest open times"); either way the times still open are offered.
            if "just taken" not in reply and "closest open times" not in reply:
                self.errors.append(f"unexpected reply to a pick: {reply[:80]!r}")
                return
        self.errors.append(f"still not booked after {MAX_PICKS} picks")

    async def run(self, phones: list[str], concurrent: bool) -> float:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=180)) as session:
            started = time.perf_counter()
            if concurrent:
                await asyncio.gather(*(self.book(session, phone) for phone in phones))
            else:
                for phone in phones:
                    await self.book(session, phone)
            return time.perf_counter() - started

    def print(self, title: str, seconds: float) -> None:
        counts = collections.Counter(self.messages_per_booking)
        print(f"\n{title}: {len(self.messages_per_booking)} booked in {seconds:.1f} s, "
              f"{len(self.errors)} errors; messages per booking: "
              + ", ".join(f"{n} msgs x{counts[n]}" for n in sorted(counts)))
        for error in self.errors[:5]:
            print(f"  error: {error}")
        for step in sorted(self.latency):
            values = self.latency[step]
            report(f"  {step}", values, seconds, 0, len(values))
        everything = [value for values in self.latency.values() for value in values]
        print(f"  whole booking, per message: p50 {percentile(everything, .5) * 1000:.0f} ms, "
              f"p95 {percentile(everything, .95) * 1000:.0f} ms")


def check_calendar(ats: EmbeddedATS, candidate_ids: list[str]) -> str:
    bookings = [booking for cid in candidate_ids for booking in ats.bookings_for(cid)
                if booking.status == "booked"]
    per_candidate = collections.Counter(booking.candidate_id for booking in bookings)
    spans = sorted((booking.starts_at, booking.ends_at) for booking in bookings)
    overlaps = sum(1 for (_, end), (start, _) in itertools.pairwise(spans) if start < end)
    doubles = sum(1 for count in per_candidate.values() if count > 1)
    return (f"ATS check: {len(bookings)} bookings for {len(per_candidate)} candidates, "
            f"{doubles} candidates booked twice, {overlaps} overlapping bookings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequential", type=int, default=10, help="candidates booking one after another")
    parser.add_argument("--concurrent", type=int, default=30, help="candidates booking at the same moment")
    args = parser.parse_args()
    random.seed(11)
    ensure_model()
    total = args.sequential + args.concurrent
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        seed = generated_seed(total)
        (workdir / "seed.yml").write_text(yaml.safe_dump(seed, sort_keys=False))
        running = start_stack(workdir / "stack", extra_env={"ATS_SEED_FILE": str(workdir / "seed.yml")})
        try:
            phones = [candidate["phone"] for candidate in seed["candidates"]]
            ids = [candidate["id"] for candidate in seed["candidates"]]
            one_by_one = Driver(running)
            one_by_one.print(f"{args.sequential} candidates one after another",
                             asyncio.run(one_by_one.run(phones[:args.sequential], concurrent=False)))
            at_once = Driver(running)
            at_once.print(f"{args.concurrent} candidates at the same moment",
                          asyncio.run(at_once.run(phones[args.sequential:], concurrent=True)))
            print("\n" + check_calendar(EmbeddedATS(workdir / "stack" / "ats.db"), ids))
        finally:
            running.stack.stop()


if __name__ == "__main__":
    main()
