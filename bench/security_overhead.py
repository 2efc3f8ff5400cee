"""What the security checks add to each message: the identity seal, the bearer-token check, the rate limiter.

Each runs in-process, many times, and prints latency percentiles. The rate limiter writes one counter row per
message to the state database (SQLite, as every replica shares it), so it is measured on a real file, alone and
with two writers at once.

  .venv/bin/python bench/security_overhead.py [--runs 2000]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.access import bearer_matches  # noqa: E402
from bot.identity import verified_metadata, verified_sender  # noqa: E402
from bot.rate_limits import RateLimiter  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.sms import conversation_id_for  # noqa: E402
from bot.store import open_state_db  # noqa: E402


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6  # noqa: E731
    return (f"p50 {pick(0.50):8.1f} us   p95 {pick(0.95):8.1f} us   p99 {pick(0.99):8.1f} us   "
            f"mean {statistics.fmean(ordered) * 1e6:8.1f} us")


def timed(step: Callable[[int], object], runs: int) -> list[float]:
    samples = []
    for n in range(runs):
        started = time.perf_counter()
        step(n)
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    runs = parser.parse_args().runs
    key, phone = "k" * 64, "+16175550101"
    conversation = conversation_id_for(phone, key)
    sealed = verified_metadata(key, "twilio", conversation, phone=phone)
    print(f"{runs} runs each")
    print("identity seal, checked by an action  ", percentiles(timed(
        lambda _: verified_sender("twilio", sealed, conversation, key), runs)))
    token = "t" * 64
    print("bearer token, checked per action call", percentiles(timed(
        lambda _: bearer_matches(f"Bearer {token}", token), runs)))
    with tempfile.TemporaryDirectory() as folder:
        settings = dataclasses.replace(Settings.from_env(), rate_limit_messages_per_minute=10**9)
        limiter = RateLimiter(open_state_db(Path(folder) / "state.db"), settings)
        print("rate limiter, one message, 1 writer  ", percentiles(timed(
            lambda n: limiter.message(f"sms-{n % 50}"), runs)))
        other = RateLimiter(open_state_db(Path(folder) / "state.db"), settings)
        stop = threading.Event()

        def competing() -> None:
            n = 0
            while not stop.is_set():
                other.message(f"web-{n % 50}")
                n += 1

        writer = threading.Thread(target=competing, daemon=True)
        writer.start()
        try:
            print("rate limiter, one message, 2 writers ", percentiles(timed(
                lambda n: limiter.message(f"sms-{n % 50}"), runs)))
        finally:
            stop.set()
            writer.join()


if __name__ == "__main__":
    main()
