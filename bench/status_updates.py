"""Benchmark: hosted ATS reads, and stage-change webhooks turned into candidates' texts.

Part 1 reads a generated ATS (N candidates) through the Greenhouse and Lever adapters against the fakes
of their APIs (tests/fakes), on this machine's loopback: the first phone lookup (which pages through the
ATS), later ones, email lookups, applications with jobs, and a full page-through of active applications.

Part 2 starts a real stack on ATS_BACKEND=greenhouse (the fake), with SMS out through the fake Twilio API,
moves applications in Greenhouse and posts signed `candidate_stage_change` webhooks: one after another,
then all at once. It prints the webhook's own latency (Greenhouse wants a quick 2xx) and the time from the
webhook to the candidate's SMS at Twilio, and checks each candidate got exactly one text.

  .venv/bin/python bench/status_updates.py --candidates 900 --sequential 10 --concurrent 40
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sms_status import generated_seed, percentile  # noqa: E402
from bot.ats.greenhouse import GreenhouseATS  # noqa: E402
from bot.ats.lever import LeverATS  # noqa: E402
from bot.ats.seed import parse_seed  # noqa: E402
from tests.fakes.greenhouse_api import FakeGreenhouseAPI  # noqa: E402
from tests.fakes.lever_api import FakeLeverAPI  # noqa: E402
from tests.fakes.twilio_api import FakeTwilioAPI  # noqa: E402
from tests.stack_fixture import ensure_model, start_stack  # noqa: E402
from tests.test_ats_contract import greenhouse_client, lever_client  # noqa: E402

SECRET = "bench-greenhouse-webhook-secret"


def line(name: str, seconds: list[float]) -> None:
    ms = [s * 1000 for s in seconds]
    print(f"  {name:<44} n={len(ms):<4} p50={percentile(ms, .5):8.1f} ms  p95={percentile(ms, .95):8.1f} ms  "
          f"max={max(ms):8.1f} ms  mean={statistics.fmean(ms):8.1f} ms")


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def read_benchmark(seed: dict, samples: int) -> None:
    parsed = parse_seed(yaml.safe_dump(seed), source="bench")
    phones = [c["phone"] for c in seed["candidates"] if c.get("phone")][:samples]
    emails = [c["email"] for c in seed["candidates"]][:samples]
    greenhouse = FakeGreenhouseAPI.from_seed(parsed).start()
    lever = FakeLeverAPI.from_seed(seed).start()
    try:
        adapters = {
            "Greenhouse": GreenhouseATS(greenhouse_client(greenhouse, deadline=60), parsed.company),
            "Lever": LeverATS(lever_client(lever, deadline=60), parsed.company),
        }
        for vendor, ats in adapters.items():
            print(f"{vendor} adapter against its fake, {len(seed['candidates'])} candidates:")
            line("first phone lookup (pages the ATS)", timed(lambda ats=ats: ats.find_candidate_by_phone(phones[0]), 1))
            iterator = iter(phones * 2)
            line("phone lookup", timed(lambda ats=ats, it=iterator: ats.find_candidate_by_phone(next(it)), samples))
            iterator = iter(emails * 2)
            line("email lookup", timed(lambda ats=ats, it=iterator: ats.find_candidate_by_email(next(it)), samples))
            candidate = ats.find_candidate_by_phone(phones[0])
            reads = timed(lambda ats=ats, who=candidate.id: ats.applications_for(who), samples)
            line("applications with job and recruiter", reads)
            line("all active applications (stale check)", timed(ats.active_applications, 3))
    finally:
        greenhouse.stop()
        lever.stop()


async def webhook_benchmark(seed: dict, sequential: int, concurrent: int) -> None:
    parsed = parse_seed(yaml.safe_dump(seed), source="bench")
    greenhouse = FakeGreenhouseAPI.from_seed(parsed).start()
    twilio = FakeTwilioAPI().start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-updates-"))
    seed_file = workdir / "seed.yml"
    seed_file.write_text(yaml.safe_dump(seed))
    running = start_stack(workdir / "stack", twilio_api=twilio, extra_env={
        "ATS_SEED_FILE": str(seed_file), "ATS_BACKEND": "greenhouse", "GREENHOUSE_API_KEY": greenhouse.api_key,
        "GREENHOUSE_BASE_URL": greenhouse.base_url + "/v1", "GREENHOUSE_USER_ID": str(greenhouse.ids["r1"]),
        "GREENHOUSE_WEBHOOK_SECRET": SECRET, "ATS_TIMEOUT_SECONDS": "10", "DELIVERY_POLL_SECONDS": "1"})
    url = f"{running.stack.rasa_url}/webhooks/ats_updates/greenhouse"
    movable = [(c, a) for c, a in zip(seed["candidates"], parsed.applications, strict=True)
               if c.get("phone") and a.stage != "Onsite Loop"]
    job = next(j for j in parsed.jobs if j.id == "j1")
    acks: dict[str, list[float]] = {"one after another": [], "all at once": []}
    arrivals: dict[str, list[float]] = {"one after another": [], "all at once": []}
    try:
        async with aiohttp.ClientSession() as session:
            async def one(group: str, candidate: dict, application) -> None:
                stage = job.stage_after(application.stage).name
                gid = greenhouse.ids[application.id]
                with greenhouse._lock:
                    record = next(a for a in greenhouse.applications if a["id"] == gid)
                    record["current_stage"] = {"id": greenhouse.ids[f"j1/{stage}"], "name": stage}
                    # Moved now, as Greenhouse says: a notice whose event time is a week old is refused as a replay.
                    record["last_activity_at"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
                    body = json.dumps({"action": "candidate_stage_change", "payload": {"application": record}})
                signature = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
                started = time.perf_counter()
                async with session.post(url, data=body, headers={"Signature": f"sha256 {signature}",
                                                                  "Content-Type": "application/json"}) as reply:
                    await reply.read()
                    assert reply.status == 200, reply.status
                acks[group].append(time.perf_counter() - started)
                while not twilio.sent_to(candidate["phone"]):
                    if time.perf_counter() - started > 120:
                        raise AssertionError("no SMS within 120 s")
                    await asyncio.sleep(0.02)
                arrivals[group].append(time.perf_counter() - started)

            for candidate, application in movable[:sequential]:
                await one("one after another", candidate, application)
            started = time.perf_counter()
            await asyncio.gather(*(one("all at once", c, a) for c, a in movable[sequential:sequential + concurrent]))
            burst = time.perf_counter() - started
        await asyncio.sleep(3)
        texted = movable[:sequential + concurrent]
        counts = [len(twilio.sent_to(c["phone"])) for c, _ in texted]
        print("Stage-change webhooks on ATS_BACKEND=greenhouse (fake), SMS at the fake Twilio API:")
        for group in acks:
            line(f"webhook acknowledged ({group})", acks[group])
            line(f"webhook to SMS at Twilio ({group})", arrivals[group])
        print(f"  burst of {concurrent}: all texted in {burst:.1f} s ({concurrent / burst:.1f} updates/s); "
              f"candidates with exactly one text: {counts.count(1)}/{len(counts)}, with more: "
              f"{sum(1 for n in counts if n > 1)}")
    finally:
        running.stack.stop()
        greenhouse.stop()
        twilio.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=900)  # generated_seed: 900 distinct numbers
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--sequential", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=40)
    args = parser.parse_args()
    ensure_model()
    seed = generated_seed(args.candidates)
    read_benchmark(seed, args.samples)
    asyncio.run(webhook_benchmark(seed, args.sequential, args.concurrent))


if __name__ == "__main__":
    main()
