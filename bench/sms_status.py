"""Benchmark: concurrent candidates asking "where's my application?" over the signed SMS webhook.

Starts a real stack (action server + Rasa server) on a generated ATS of N candidates, drives
`--candidates` simulated candidates concurrently, each sending `--messages` status questions, and
prints latency percentiles and throughput next to the same load on Rasa's bare /model/parse (the
floor: NLU only, no dialogue, no action server, no ATS). Also prints the Rasa server's resident
memory and, with --train, the model training time.

  .venv/bin/python bench/sms_status.py --candidates 50 --messages 4 [--train]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.settings import PROJECT_ROOT  # noqa: E402
from bot.twilio_webhook import inbound_params, twiml_messages  # noqa: E402
from tests.stack_fixture import ensure_model, start_stack  # noqa: E402

QUESTIONS = ["where's my application?", "any update??", "wheres my app", "did i get the job",
             "status of my application pls", "ANY NEWS ON MY APPLICATION", "have u heard anything back"]
AREA_CODES = ["617", "202", "312", "415", "646", "206", "512", "303", "404", "617"]


def generated_seed(count: int) -> dict:
    demo = yaml.safe_load((PROJECT_ROOT / "data" / "demo" / "ats_seed.yml").read_text())
    stages = ["Application Review", "Recruiter Screen", "Technical Interview", "Onsite Loop"]
    candidates = []
    for n in range(count):
        area, line = AREA_CODES[n // 100 % len(AREA_CODES)], 100 + n % 100
        candidates.append({
            "id": f"b{n}", "name": f"Bench Candidate{n}", "email": f"bench{n}@example.com",
            "phone": f"+1{area}555{line:04d}" if n < 1000 else None,
            "applications": [{"job": "j1", "stage": stages[n % 4], "stage_changed": "2026-11-15",
                              "recruiter": "r1", "status": "active"}],
        })
    return {**demo, "candidates": candidates}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def report(name: str, latencies: list[float], seconds: float, errors: int, total: int) -> None:
    ms = [value * 1000 for value in latencies]
    print(f"{name:<34} n={total:<5} errors={errors:<3} "
          f"p50={percentile(ms, .5):7.1f} ms  p95={percentile(ms, .95):7.1f} ms  p99={percentile(ms, .99):7.1f} ms  "
          f"mean={statistics.fmean(ms):7.1f} ms  throughput={len(ms) / seconds:6.1f} msg/s")


async def drive_sms(running, phones: list[str], messages: int) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    errors = 0

    async def candidate(session: aiohttp.ClientSession, phone: str) -> None:
        nonlocal errors
        for _ in range(messages):
            params = inbound_params(phone, random.choice(QUESTIONS))
            headers = {"X-Twilio-Signature": running.sign(params),
                       "Content-Type": "application/x-www-form-urlencoded"}
            started = time.perf_counter()
            async with session.post(running.stack.sms_webhook_url, data=urllib.parse.urlencode(params),
                                    headers=headers) as reply:
                body = await reply.text()
            latencies.append(time.perf_counter() - started)
            # Every message must get its real answer, not just a 200.
            if reply.status != 200 or not any("stage" in m for m in twiml_messages(body)):
                errors += 1

    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(candidate(session, phone) for phone in phones))
        return latencies, time.perf_counter() - started, errors


async def drive_parse(running, concurrency: int, messages: int) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    errors = 0
    url = f"{running.stack.rasa_url}/model/parse?token={running.api_token}"

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        for _ in range(messages):
            started = time.perf_counter()
            async with session.post(url, json={"text": random.choice(QUESTIONS)}) as reply:
                parsed = await reply.json()
            latencies.append(time.perf_counter() - started)
            if reply.status != 200 or parsed.get("intent", {}).get("name") != "check_status":
                errors += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        return latencies, time.perf_counter() - started, errors


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def train_seconds() -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rasa", "train", "--force", "--out", out], cwd=PROJECT_ROOT,
                       check=True, capture_output=True, env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"})
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=50, help="concurrent simulated candidates")
    parser.add_argument("--messages", type=int, default=4, help="status questions per candidate")
    parser.add_argument("--train", action="store_true", help="also time a full model training")
    args = parser.parse_args()
    random.seed(7)

    if args.train:
        print(f"model training (rasa train --force, {os.cpu_count()} cores): {train_seconds():.1f} s", flush=True)
    ensure_model()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        seed = generated_seed(args.candidates)
        (workdir / "seed.yml").write_text(yaml.safe_dump(seed))
        started = time.perf_counter()
        running = start_stack(workdir / "stack", extra_env={"ATS_SEED_FILE": str(workdir / "seed.yml")})
        print(f"stack ready in {time.perf_counter() - started:.1f} s "
              f"({args.candidates} candidates x {args.messages} messages, concurrency {args.candidates})", flush=True)
        try:
            phones = [c["phone"] for c in seed["candidates"]]
            asyncio.run(drive_sms(running, phones[:5], 1))  # warm-up: first messages load lazy parts
            sms = asyncio.run(drive_sms(running, phones, args.messages))
            floor = asyncio.run(drive_parse(running, args.candidates, args.messages))
            rasa_pid, action_pid = running.stack.processes[1].pid, running.stack.processes[0].pid
            print()
            report("SMS webhook, full status answer", sms[0], sms[1], sms[2], len(sms[0]))
            report("Rasa /model/parse (floor)", floor[0], floor[1], floor[2], len(floor[0]))
            print(f"\nresident memory: Rasa server {resident_mb(rasa_pid):.0f} MB, "
                  f"action server {resident_mb(action_pid):.0f} MB")
        finally:
            running.stack.stop()


if __name__ == "__main__":
    main()
