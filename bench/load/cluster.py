"""The system under load: one Rasa replica on the embedded defaults (SQLite tracker store, in-memory lock
store), or several replicas, each with its action server, sharing a real redis-server for the tracker and
lock stores and one state database, ATS database and conversation-id key (README, "Scaling out"). The
recruiters' Slack app talks to a fake Slack and out-of-band SMS go to a fake Twilio (tests/fakes)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.load.transport import Replica
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.redis_server import RedisServer, start_redis
from tests.stack_fixture import ensure_model, slack_env, start_stack

KILL_MODES = ("stop", "drain", "crash")
DRAIN_SECONDS = 30.0
RECRUITER = "U0DANA"  # recruiter r1 of the demo seed, every generated candidate's recruiter


@dataclass
class Cluster:
    replicas: list[Replica]
    slack: FakeSlackAPI
    twilio: FakeTwilioAPI
    redis: RedisServer | None
    conversation_key: str
    stopped: list[Replica] = field(default_factory=list)

    def kill(self, replica: Replica, mode: str) -> float:
        """Stop one replica (its Rasa server and action server) while the load runs; returns the seconds it took.

        stop: Stack.stop(), as `make run` and the tests stop a stack (SIGTERM to the Rasa server, SIGKILL after
        30 s, then the same for its action server); drain: SIGTERM to the Rasa server alone, up to 30 s for it
        to finish what it was doing, then Stack.stop(); crash: SIGKILL the Rasa server, then Stack.stop()."""
        started = time.perf_counter()
        rasa = replica.running.stack.processes[-1]
        if mode == "crash" and rasa.poll() is None:
            os.killpg(rasa.pid, signal.SIGKILL)
        elif mode == "drain" and rasa.poll() is None:
            os.killpg(rasa.pid, signal.SIGTERM)
            try:
                rasa.wait(DRAIN_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(rasa.pid, signal.SIGKILL)
        replica.running.stack.stop()
        self.stopped.append(replica)
        return time.perf_counter() - started

    @property
    def survivors(self) -> list[Replica]:
        return [replica for replica in self.replicas if replica not in self.stopped]

    def stop(self) -> None:
        for replica in self.replicas:
            replica.running.stack.stop()
        if self.redis is not None:
            self.redis.stop()
        self.slack.stop()
        self.twilio.stop()


def start(workdir: Path, seed_file: Path, replicas: int, redis: bool) -> Cluster:
    ensure_model()
    slack = FakeSlackAPI()
    slack.users[RECRUITER] = {"real_name": "Dana Lee", "name": "dana", "email": "dana@acme.example",
                              "tz": "America/New_York"}
    slack.start()
    twilio = FakeTwilioAPI().start()
    server = start_redis(workdir / "redis") if redis else None
    shared = workdir / "shared"
    shared.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(8)
    env = {**slack_env(slack), "ATS_SEED_FILE": str(seed_file), "CONVERSATION_ID_KEY": key}
    if replicas > 1 or redis:
        env.update({"STATE_DATABASE": str(shared / "state.db"),
                    "ATS_DATABASE": str(shared / "ats.db"), "TRACKER_DB": str(shared / "unused-tracker.db")})
    if server is not None:
        env.update({"TRACKER_STORE": "redis", "LOCK_STORE": "redis", "REDIS_URL": server.url})
    started: dict[int, Replica] = {}
    errors: list[BaseException] = []

    def start_one(n: int) -> None:
        name = "abcdefgh"[n]
        try:
            own = workdir / f"replica-{name}"
            # Each replica its own analytics event log: replicas starting at once on one SQLite file can race
            # to create its table ("table events already exists"), and the load run does not read it.
            started[n] = Replica(name, start_stack(own, extra_env={**env, "EVENT_BROKER_DB": str(own / "events.db")},
                                                   twilio_api=twilio))
        except BaseException as error:  # noqa: BLE001 - raised below, after the others have started or failed
            errors.append(error)

    threads = [threading.Thread(target=start_one, args=(n,)) for n in range(replicas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cluster = Cluster([started[n] for n in sorted(started)], slack, twilio, server, key)
    if errors:
        cluster.stop()
        raise errors[0]
    return cluster
