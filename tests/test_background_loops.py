"""The background loops the Rasa server runs (deliveries, handoffs, ATS updates) stop when it stops.

Under load a loop's doorbell rings all the time, so a stop request often arrives in the same moment as a
ring. Python 3.11's asyncio.wait_for swallowed that cancellation (bpo-42130): the loop carried on and held
Rasa's shutdown until it was killed. These tests ring and cancel in every interleaving of a few loop steps.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.ats import call_ats
from channels.delivery import Doorbell


async def _stops(ring_then_steps: int) -> bool:
    bell = Doorbell()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            await bell.wait(30)
            rounds += 1

    task = asyncio.ensure_future(loop())
    await asyncio.sleep(0)  # the loop is waiting for the bell
    bell.ring()
    for _ in range(ring_then_steps):
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    return task in done and task.cancelled()


@pytest.mark.parametrize("steps", range(6))
def test_a_loop_waiting_for_its_doorbell_stops_when_cancelled_as_the_bell_rings(steps):
    assert asyncio.run(_stops(steps))


def test_an_ats_call_cancelled_as_it_finishes_still_cancels_its_caller():
    async def scenario(delay: float) -> bool:
        async def caller() -> None:
            while True:
                await call_ats(time.sleep, delay, timeout=5)

        task = asyncio.ensure_future(caller())
        await asyncio.sleep(delay)  # around the moment the call returns
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        return task in done and task.cancelled()

    assert all(asyncio.run(scenario(delay)) for delay in (0.0, 0.001, 0.002, 0.005, 0.01, 0.02))


def test_work_from_outside_a_message_gives_up_on_a_locked_conversation_and_leaves_no_ticket_behind():
    from types import SimpleNamespace

    from rasa.core.lock_store import InMemoryLockStore

    from channels.delivery import ConversationBusy, conversation_lock

    async def scenario() -> tuple[float, float]:
        agent = SimpleNamespace(lock_store=InMemoryLockStore())
        async with agent.lock_store.lock("c-1"):  # a message being answered (or a replica that died holding it)
            started = time.monotonic()
            with pytest.raises(ConversationBusy):
                async with conversation_lock(agent, "c-1", wait=0.3):
                    raise AssertionError("entered a locked conversation")
            waited = time.monotonic() - started
            async with conversation_lock(agent, "c-2", wait=0.3):  # other conversations are not held up
                pass
        started = time.monotonic()
        async with conversation_lock(agent, "c-1", wait=2):  # the abandoned wait left no ticket in the queue
            pass
        return waited, time.monotonic() - started

    waited, then = asyncio.run(scenario())
    assert 0.3 <= waited < 1.5 and then < 0.5


def test_a_stopping_server_lets_its_loops_finish_the_row_they_are_on_and_take_no_more(state_engine):
    from bot.outbox import STOPPING, SmsOutbox
    from channels.delivery import running, stop_loops

    outbox = SmsOutbox(state_engine)
    for n in range(3):
        outbox.enqueue(f"sms-{n}", f"+1617555010{n}", [f"message {n}"])
    sent: list[str] = []

    async def scenario() -> bool:
        bell, sending = Doorbell(), asyncio.Event()

        async def loop() -> None:  # the shape of every delivery loop
            while running():
                await bell.wait(30)
                for item in outbox.take_due():
                    sending.set()
                    await asyncio.sleep(0.3)  # the call to Twilio or Slack
                    outbox.finish(item.id, "sent")
                    sent.append(item.fields["body"])

        task = asyncio.ensure_future(loop())
        bell.ring()
        await sending.wait()
        await stop_loops([task], wait=2)
        return task.done() and not task.cancelled()

    try:
        assert asyncio.run(scenario())  # left by itself, not cancelled mid-send
    finally:
        STOPPING.clear()  # this test process goes on
    assert sent == ["message 0"]
    assert outbox.counts() == {"sent": 1, "pending": 2}  # not leased: another replica sends them at once
