"""What the load run measured: every message's latency and outcome, retries, out-of-band notices, and the report."""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# A message's outcome. "answered" and "silent" (no reply expected, none given) got their reply; "wrong" got a
# reply that is not the expected one; the rest did not get one.
GOT_REPLY = ("answered", "silent", "wrong", "unexpected reply")
NO_REPLY = ("no reply", "server sorry", "failed")


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


@dataclass
class Message:
    channel: str
    script: str
    sent_at: float
    latency: float
    outcome: str
    replica: str | None
    attempts: int


@dataclass
class Stats:
    messages: list[Message] = field(default_factory=list)
    retried: collections.Counter = field(default_factory=collections.Counter)  # transient error kind -> retries
    problems: collections.Counter = field(default_factory=collections.Counter)  # "kind: detail" -> count
    examples: dict[str, str] = field(default_factory=dict)  # one example per problem
    notices: dict[tuple[str, str], list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    notice_outcomes: collections.Counter = field(default_factory=collections.Counter)  # (channel, outcome)
    connects: list[float] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)  # recruiters' Slack requests until the app's answer
    reconnects: int = 0
    conversations: collections.Counter = field(default_factory=collections.Counter)  # (script, outcome)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    events: list[tuple[float, str]] = field(default_factory=list)  # (when, what): e.g. a replica stopped
    troubled: set[str] = field(default_factory=set)  # candidates whose conversation had a problem
    overdue: list[tuple[str, Callable[[], bool], float]] = field(default_factory=list)  # notices not yet arrived
    late: list[tuple[str, float | None]] = field(default_factory=list)  # (what, seconds after it was due or None)

    def message(self, message: Message) -> None:
        self.messages.append(message)

    def problem(self, kind: str, example: str = "") -> None:
        self.problems[kind] += 1
        if example and kind not in self.examples:
            self.examples[kind] = example[:240]

    def retry(self, kind: str) -> None:
        self.retried[kind] += 1

    def notice(self, channel: str, what: str, outcome: str, seconds: float | None) -> None:
        self.notice_outcomes[(channel, outcome)] += 1
        if seconds is not None:
            self.notices[(channel, what)].append(seconds)

    async def wait_for_overdue(self, seconds: float) -> None:
        """Give notices that did not arrive in time until `seconds` more to arrive (e.g. a stopped replica's
        lease on them runs out), and remember when each arrived."""
        deadline = time.perf_counter() + seconds
        pending = list(self.overdue)
        while pending and time.perf_counter() < deadline:
            for item in list(pending):
                what, arrived, since = item
                if arrived():
                    self.late.append((what, time.perf_counter() - since))
                    pending.remove(item)
            await asyncio.sleep(0.5)
        self.late += [(what, None) for what, _, _ in pending]

    def late_lines(self, seconds: float) -> list[str]:
        if not self.late:
            return []
        arrived = [wait for _, wait in self.late if wait is not None]
        return [f"notices missing at the end of the run: {len(self.late)}; arrived later: {len(arrived)}"
                + (f" (up to {max(arrived):.0f} s after the notice was due)" if arrived else "")
                + f", still missing after {seconds:.0f} s more: {len(self.late) - len(arrived)}"]

    def event(self, what: str) -> None:
        self.events.append((time.monotonic() - self.started, what))

    # --- the report -------------------------------------------------------------------------------

    def report(self) -> list[str]:
        seconds = (self.finished or time.monotonic()) - self.started
        lines = [f"load phase: {seconds:.1f} s, {len(self.messages)} candidate messages"]
        for when, what in self.events:
            lines.append(f"  at {when:6.1f} s: {what}")
        lines.append("")
        lines.append(f"{'':22}{'messages':>9}{'p50':>10}{'p95':>10}{'p99':>10}{'max':>10}{'msg/s':>8}"
                     f"{'no reply':>10}{'wrong':>7}{'retried':>9}")
        for name, rows in self._groups():
            latencies = [m.latency for m in rows if not math.isnan(m.latency)]  # a failed message has none
            lines.append(f"{name:22}{len(rows):>9}{_ms(percentile(latencies, .5))}{_ms(percentile(latencies, .95))}"
                         f"{_ms(percentile(latencies, .99))}{_ms(max(latencies, default=float('nan')))}"
                         f"{len(rows) / seconds:>8.1f}{sum(m.outcome in NO_REPLY for m in rows):>10}"
                         f"{sum(m.outcome in ('wrong', 'unexpected reply') for m in rows):>7}"
                         f"{sum(m.attempts > 1 for m in rows):>9}")
        per_replica = collections.Counter(m.replica for m in self.messages if m.replica)
        if len(per_replica) > 1:
            lines.append("answered by: " + ", ".join(f"{name} {count}" for name, count in sorted(per_replica.items())))
        if self.connects:
            lines.append(f"web connect + session + history: n={len(self.connects)} "
                         f"p50 {percentile(self.connects, .5) * 1000:.0f} ms, "
                         f"p95 {percentile(self.connects, .95) * 1000:.0f} ms; reconnects {self.reconnects}")
        if self.acks:
            lines.append(f"recruiters' Slack requests (claim, reply, hand back): n={len(self.acks)}, acknowledged p50 "
                         f"{percentile(self.acks, .5) * 1000:.0f} ms, p95 {percentile(self.acks, .95) * 1000:.0f} ms, "
                         f"max {max(self.acks) * 1000:.0f} ms; over Slack's 3 s: {sum(a > 3 for a in self.acks)}")
        if self.notices or self.notice_outcomes:
            lines.append("")
            lines.append("out-of-band, between the candidate and the recruiter in Slack (time to arrive):")
            for (channel, what), values in sorted(self.notices.items()):
                lines.append(f"  {channel:4} {what:26} n={len(values):<5} p50={percentile(values, .5) * 1000:7.0f} ms"
                             f"  p95={percentile(values, .95) * 1000:7.0f} ms")
            lines.append("  outcomes: " + ", ".join(f"{channel} {outcome} {count}" for (channel, outcome), count
                                                   in sorted(self.notice_outcomes.items())))
        lines.append("")
        outcomes = collections.Counter(m.outcome for m in self.messages)
        lines.append("message outcomes: " + ", ".join(f"{name} {count}" for name, count in outcomes.most_common()))
        missing = sum(outcomes[name] for name in NO_REPLY)
        lines.append(f"every message got its reply: {'yes' if missing == 0 else 'no'} ({missing} missing)")
        lines.append("retries: " + (", ".join(f"{kind} {count}" for kind, count in self.retried.most_common())
                                     if self.retried else "none"))
        lines.append("errors: " + (", ".join(f"{kind} {count}" for kind, count in self.problems.most_common())
                                    if self.problems else "none"))
        for kind, example in self.examples.items():
            lines.append(f"  e.g. {kind}: {example}")
        lines.append("conversations: " + ", ".join(f"{script} {outcome} {count}" for (script, outcome), count
                                                    in sorted(self.conversations.items())))
        return lines

    def _groups(self) -> list[tuple[str, list[Message]]]:
        channels = sorted({m.channel for m in self.messages})
        groups = [(f"{channel}", [m for m in self.messages if m.channel == channel]) for channel in channels]
        scripts = sorted({m.script for m in self.messages})
        groups += [(f"  {script}", [m for m in self.messages if m.script == script]) for script in scripts]
        return [*groups, ("all", self.messages)]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:>8.0f}ms"
