"""Drive thousands of simulated candidates through the signed SMS webhook and the web widget's socket.io channel.

  .venv/bin/python -m bench.load --candidates 1000 --replicas 1
  .venv/bin/python -m bench.load --candidates 1000 --replicas 2            # Redis tracker and lock stores
  .venv/bin/python -m bench.load --candidates 1000 --replicas 2 --kill-after 60

See bench/load/__init__.py for what it does and prints.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.load import cluster as clusters
from bench.load.scripts import Conversation, Setting, run
from bench.load.seed import MAX_PHONES, SCRIPTS, generate
from bench.load.stats import Stats
from bench.load.transport import (
    Balancer,
    HttpClient,
    Recruiter,
    SmsCandidate,
    TwilioInbox,
    WebCandidate,
    closing_connections,
)
from bench.load.verify import verify

WARM_UP_PHONES = ["+447911123450", "+447911123451", "+447911123452", "+447911123453"]  # not in the ATS


def parse_mix(text: str) -> dict[str, float]:
    mix = {}
    for part in text.split(","):
        name, _, share = part.partition("=")
        if name.strip() not in SCRIPTS:
            raise argparse.ArgumentTypeError(f"unknown script {name!r} (use {', '.join(SCRIPTS)})")
        mix[name.strip()] = float(share)
    return mix


def parse_range(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=2000, help="simulated candidates (default 2000)")
    parser.add_argument("--web-share", type=float, default=0.3, help="share on the web widget, the rest SMS (0.3)")
    parser.add_argument("--mix", type=parse_mix, default=parse_mix("status=40,faq=30,booking=15,handoff=15"),
                        help="conversation mix (default status=40,faq=30,booking=15,handoff=15)")
    parser.add_argument("--replicas", type=int, default=1, choices=range(1, 9), metavar="N",
                        help="Rasa replicas; more than one share Redis tracker and lock stores (default 1)")
    parser.add_argument("--redis", action="store_true", help="Redis stores even with one replica")
    parser.add_argument("--concurrency", type=int, default=100, help="candidates in conversation at once (100)")
    parser.add_argument("--ramp", type=float, default=20.0, help="seconds to reach full concurrency (20)")
    parser.add_argument("--think", type=parse_range, default=(1.0, 3.0), help="think time MIN,MAX seconds (1,3)")
    parser.add_argument("--duration", type=float, default=0.0,
                        help="start no new conversation after this many seconds (default: run every candidate)")
    parser.add_argument("--claim-share", type=float, default=0.5,
                        help="share of handoffs the recruiter claims, answers and hands back in Slack (0.5)")
    parser.add_argument("--kill-after", type=float, default=None,
                        help="stop replica a this many seconds into the load (needs --replicas 2 or more)")
    parser.add_argument("--kill-mode", choices=clusters.KILL_MODES, default="stop",
                        help="stop: Stack.stop(), as make run and the tests stop (SIGTERM to Rasa, SIGKILL after "
                             "30 s, then its action server); drain: SIGTERM to Rasa alone, 30 s for it to finish, "
                             "then Stack.stop(); crash: SIGKILL Rasa (default stop)")
    parser.add_argument("--retries", type=int, default=4, help="retries of a message on another replica (4)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one reply (60)")
    parser.add_argument("--notice-timeout", type=float, default=30.0,
                        help="seconds to wait for an out-of-band message (30)")
    parser.add_argument("--late-wait", type=float, default=150.0,
                        help="after the run, seconds to keep waiting for out-of-band messages that did not arrive in "
                             "time (150: a stopped replica's claim on queued messages lasts 2 minutes)")
    parser.add_argument("--no-verify", action="store_true", help="skip reading every tracker back at the end")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="work in DIR and keep it: servers' logs, databases, and the trackers of conversations "
                             "that had a problem (DIR/trackers)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    args = parser.parse_args(argv)
    if args.kill_after is not None and args.replicas < 2:
        parser.error("--kill-after needs --replicas 2 or more (something must survive)")
    sms = args.candidates - int(round(args.candidates * args.web_share))
    if sms > MAX_PHONES:
        parser.error(f"at most {MAX_PHONES} SMS candidates; lower --candidates or raise --web-share")
    return args


async def load(args: argparse.Namespace, cluster: clusters.Cluster, candidates) -> None:
    stats = Stats()
    balancer = Balancer(cluster.replicas)
    http = HttpClient(balancer, stats, args.retries, args.timeout, pool=args.concurrency + 50)
    setting = Setting(stats, Recruiter(http, cluster.slack, clusters.RECRUITER), TwilioInbox(cluster.twilio),
                      args.think, args.notice_timeout, args.claim_share, clusters.RECRUITER)
    try:
        await warm_up(cluster, args)
        stats.started = time.monotonic()
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu_before = used.ru_utime + used.ru_stime
        conversations = await drive(args, cluster, candidates, stats, http, setting)
        stats.finished = time.monotonic()
        print(f"machine load average (1/5/15 min) at the end of the load: "
              f"{' / '.join(f'{value:.1f}' for value in os.getloadavg())}", flush=True)
        if stats.overdue:
            await stats.wait_for_overdue(args.late_wait)
        print("\n".join(["", *stats.report(), *stats.late_lines(args.late_wait)]), flush=True)
        used = resource.getrusage(resource.RUSAGE_SELF)
        busy = used.ru_utime + used.ru_stime - cpu_before
        print(f"the load generator itself (this process, with the fake Slack and Twilio): {busy:.0f} CPU-seconds, "
              f"{busy / (stats.finished - stats.started) * 100:.0f}% of one core", flush=True)
        if not args.no_verify:
            survivor = cluster.survivors[0]
            started = time.perf_counter()
            dump = args.keep / "trackers" if args.keep else None
            verdict = await verify(conversations, survivor, cluster.conversation_key, dump, stats.troubled)
            print("", *verdict.lines(survivor.name), f"  (read back in {time.perf_counter() - started:.0f} s)",
                  sep="\n", flush=True)
    finally:
        await closing_connections()
        await http.close()


async def warm_up(cluster: clusters.Cluster, args: argparse.Namespace) -> None:
    """The first messages load lazy parts of each replica; sent to each one directly, not measured."""
    for replica, phone in zip(cluster.replicas, WARM_UP_PHONES, strict=False):
        http = HttpClient(Balancer([replica]), Stats(), args.retries, args.timeout, pool=4)
        try:
            warm = SmsCandidate(http, phone)
            for text in ("hi", "where's my application?", "what benefits do you offer?"):
                await warm.say(text)
        finally:
            await http.close()


async def drive(args, cluster: clusters.Cluster, candidates, stats: Stats, http: HttpClient, setting: Setting):
    rng = random.Random(args.seed)
    gate = asyncio.Semaphore(args.concurrency)
    conversations = []
    active = 0
    deadline = stats.started + args.duration if args.duration else None
    skipped = 0

    async def candidate_task(n: int, candidate) -> None:
        nonlocal active, skipped
        if n < args.concurrency:
            await asyncio.sleep(args.ramp * n / args.concurrency)
        async with gate:
            if deadline is not None and time.monotonic() > deadline:
                skipped += 1
                return
            if candidate.channel == "sms":
                client = SmsCandidate(http, candidate.phone)
            else:
                client = WebCandidate(http.balancer, stats, candidate.email, args.retries, args.timeout)
            conversations.append((candidate, client))
            active += 1
            try:
                await run(Conversation(candidate, client, setting, random.Random(rng.random())))
            finally:
                active -= 1
                await client.close()

    async def kill_later() -> None:
        await asyncio.sleep(args.kill_after)
        victim = cluster.replicas[0]
        in_flight = active
        stats.event(f"stopping replica {victim.name} (--kill-mode {args.kill_mode}), "
                    f"{in_flight} conversations active")
        print(f"  ... stopping replica {victim.name}", flush=True)
        seconds = await asyncio.to_thread(cluster.kill, victim, args.kill_mode)
        stats.event(f"replica {victim.name} stopped (took {seconds:.1f} s)")

    async def progress() -> None:
        done_before, last = 0, time.monotonic()
        while True:
            await asyncio.sleep(15)
            now, done = time.monotonic(), len(stats.messages)
            print(f"  {now - stats.started:6.0f} s: {done} messages, {active} conversations active, "
                  f"{sum(stats.conversations.values())} finished, {(done - done_before) / (now - last):.1f} msg/s",
                  flush=True)
            done_before, last = done, now

    tasks = [asyncio.ensure_future(candidate_task(n, candidate)) for n, candidate in enumerate(candidates)]
    reporter = asyncio.ensure_future(progress())
    killer = asyncio.ensure_future(kill_later()) if args.kill_after is not None else None
    try:
        await asyncio.gather(*tasks)
        if killer is not None:
            await killer  # a kill due after the last conversation still happens, before the read-back
    finally:
        reporter.cancel()
        if killer is not None and not killer.done():
            killer.cancel()
    if skipped:
        stats.event(f"{skipped} candidates not started (--duration)")
    return conversations


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    rng = random.Random(args.seed)
    seed, candidates = generate(args.candidates, args.web_share, args.mix, rng)
    stores = "Redis tracker + lock stores" if args.replicas > 1 or args.redis else "SQLite tracker, in-memory lock"
    print(f"$ {shlex.join([Path(sys.executable).name, '-m', 'bench.load', *(argv or sys.argv[1:])])}")
    print(f"{args.candidates} candidates ({sum(c.channel == 'sms' for c in candidates)} SMS, "
          f"{sum(c.channel == 'web' for c in candidates)} web; "
          + ", ".join(f"{name} {sum(c.script == name for c in candidates)}" for name in SCRIPTS)
          + f"), {args.replicas} replica(s), {stores}, {os.cpu_count()} cores; at most {args.concurrency} "
          f"conversations at once (ramp {args.ramp:.0f} s), think time {args.think[0]:g}-{args.think[1]:g} s",
          flush=True)
    with contextlib.ExitStack() as cleanup:
        if args.keep:
            workdir = args.keep.resolve()
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bench-load-")))
        seed_file = workdir / "seed.yml"
        seed_file.write_text(yaml.safe_dump(seed, sort_keys=False))
        started = time.perf_counter()
        cluster = clusters.start(workdir, seed_file, args.replicas, redis=args.replicas > 1 or args.redis)
        try:
            print(f"{args.replicas} replica(s) ready in {time.perf_counter() - started:.0f} s; machine load average "
                  f"{' / '.join(f'{value:.1f}' for value in os.getloadavg())}", flush=True)
            asyncio.run(load(args, cluster, candidates))
        finally:
            cluster.stop()
        if args.keep:
            print(f"kept: {workdir}")


if __name__ == "__main__":
    main()
