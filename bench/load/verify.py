"""After the run: does every conversation's tracker, read through a surviving replica's HTTP API, hold every
message the candidate got a reply for, once each and in the order they were sent? And what became of messages
the server accepted (HTTP 200, acknowledgement) without replying when a reply was due?

SMS messages are matched by their MessageSid (the channel records it as message metadata; a picked number
is stored as the choice's payload, so the text would not match); web messages by their text."""

from __future__ import annotations

import asyncio
import collections
import json
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.load.seed import Candidate
from bench.load.transport import Replica, SmsCandidate, WebCandidate
from bot.sms import conversation_id_for
from bot.webchat import visitor_for


@dataclass
class Verdict:
    checked: int = 0
    lost_state: int = 0  # conversations with an answered message missing, recorded twice or out of order
    missing: int = 0  # answered messages not in the tracker
    duplicated: int = 0  # answered messages in the tracker more than once
    out_of_order: int = 0  # conversations whose answered messages are all there, in another order
    unreplied_processed: int = 0  # accepted without a reply, yet in the tracker: the reply was lost
    unreplied_lost: int = 0  # accepted (HTTP 200 / acknowledged) without a reply and not in the tracker
    unreadable: int = 0  # trackers the API did not return
    examples: list[str] = field(default_factory=list)

    def lines(self, via: str) -> list[str]:
        lines = [f"conversations checked: {self.checked} (trackers read through replica {via}), "
                 f"lost state: {self.lost_state}",
                 f"  answered messages missing from the tracker: {self.missing}, recorded twice: {self.duplicated}, "
                 f"conversations out of order: {self.out_of_order}, trackers unreadable: {self.unreadable}",
                 f"  messages accepted without a reply: {self.unreplied_processed} in the tracker (the reply was "
                 f"lost), {self.unreplied_lost} not in the tracker (the message was lost)"]
        lines += [f"  e.g. {example}" for example in self.examples[:5]]
        return lines


def applied_user_events(events: list[dict]) -> list[dict]:
    """The user messages as Rasa applies them: a `rewind` (UserUtteranceReverted, e.g. the two-stage fallback
    taking a rephrasing) takes back the latest one, which is then recorded again."""
    users: list[dict] = []
    for event in events:
        if event.get("event") == "user":
            users.append(event)
        elif event.get("event") == "rewind" and users:
            users.pop()
    return users


def _is_subsequence(wanted: list[str], recorded: list[str]) -> bool:
    remaining = iter(recorded)
    return all(item in remaining for item in wanted)


def judge(verdict: Verdict, candidate: Candidate, delivered: list[tuple[str, bool]], recorded: list[str]) -> bool:
    """Record one conversation's verdict; True when it lost state or a message."""
    verdict.checked += 1
    answered = [key for key, replied in delivered if replied]
    wanted, have = collections.Counter(answered), collections.Counter(recorded)
    missing = sum((wanted - have).values())
    duplicated = sum(1 for item, count in have.items() if wanted[item] and count > wanted[item])
    in_order = _is_subsequence(answered, recorded)
    unreplied = [key for key, replied in delivered if not replied]
    lost_messages = sum(1 for key in unreplied if key not in have)
    verdict.missing += missing
    verdict.duplicated += duplicated
    verdict.unreplied_lost += lost_messages
    verdict.unreplied_processed += len(unreplied) - lost_messages
    if not missing and not in_order:
        verdict.out_of_order += 1
    if missing or duplicated or not in_order:
        verdict.lost_state += 1
    if missing or duplicated or not in_order or lost_messages:
        verdict.examples.append(f"{candidate.id} ({candidate.channel}, {candidate.script}): sent {delivered} "
                                f"(True: got its reply), tracker has {recorded}")
        return True
    return False


async def verify(conversations: list[tuple[Candidate, SmsCandidate | WebCandidate]], replica: Replica, key: str,
                 dump: Path | None = None, troubled: set[str] | frozenset = frozenset(),
                 concurrency: int = 4) -> Verdict:
    """Check every conversation; with `dump`, write the tracker of each one that lost state or had a problem
    during the run (`troubled`) there as <candidate>.json, for a closer look."""
    verdict = Verdict()
    gate = asyncio.Semaphore(concurrency)
    api_token = replica.running.api_token

    async def check(session: aiohttp.ClientSession, candidate: Candidate, client) -> None:
        if candidate.channel == "sms":
            conversation_id = conversation_id_for(candidate.phone, key)
        else:
            conversation_id = visitor_for(candidate.email, None, key).conversation_id
        async with gate:
            try:
                async with session.get(f"{replica.url}/conversations/{conversation_id}/tracker",
                                       params={"token": api_token}) as reply:
                    reply.raise_for_status()
                    events = (await reply.json())["events"]
            except (aiohttp.ClientError, asyncio.TimeoutError, KeyError) as error:
                verdict.unreadable += 1
                verdict.examples.append(f"{candidate.id}: tracker unreadable ({type(error).__name__})")
                return
        users = applied_user_events(events)
        if candidate.channel == "sms":
            recorded = [(event.get("metadata") or {}).get("message_sid") for event in users]
        else:
            recorded = [event.get("text") for event in users]
        lost = judge(verdict, candidate, client.delivered, recorded)
        if dump is not None and (lost or candidate.id in troubled):
            dump.mkdir(parents=True, exist_ok=True)
            (dump / f"{candidate.id}.json").write_text(json.dumps(
                {"candidate": candidate.__dict__, "conversation_id": conversation_id, "delivered": client.delivered,
                 "events": events}, indent=1, default=str))

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        await asyncio.gather(*(check(session, candidate, client) for candidate, client in conversations
                               if client.delivered))
    return verdict
