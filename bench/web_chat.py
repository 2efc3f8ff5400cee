"""Benchmark: careers-site visitors chatting over socket.io (the widget's protocol), signed in by JWT.

Starts a real stack on the demo ATS and connects `--visitors` python-socketio clients (long-polling,
as the widget does), each signed in as a demo candidate by a careers-site token, each asking
`--messages` questions. Prints the time from sending a message to its acknowledgement (the answer
has been produced and emitted by then) and to the first bot message, as percentiles, and the
connection time (connect, session, history).

  .venv/bin/python bench/web_chat.py --visitors 20 --messages 3
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path

import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sms_status import percentile  # noqa: E402
from bot.webchat import signed_token  # noqa: E402
from tests.stack_fixture import WEB_JWT_SECRET, ensure_model, start_stack  # noqa: E402

EMAILS = ["priya@example.com", "james.carter@example.com", "diego.santos@example.com", "lena.fischer@example.de",
          "aisha.bello@example.co.uk", "omar.haddad@example.com", "nora.quinn@example.com"]
QUESTIONS = ["where's my application?", "what's the salary for this role?", "do you offer remote work?",
             "what benefits do you offer?", "how many interview rounds are there?"]


async def visitor(url: str, email: str, messages: int, figures: dict[str, list[float]], errors: list[str]) -> None:
    client = socketio.AsyncClient(reconnection=False)
    first_reply = asyncio.Event()
    client.on("bot_uttered", lambda _message: first_reply.set())
    ready = asyncio.Event()
    client.on("history", lambda _history: ready.set())
    started = time.perf_counter()
    await client.connect(url, auth={"token": signed_token(email, WEB_JWT_SECRET)}, socketio_path="/socket.io",
                         transports=["polling"], wait_timeout=30)
    await client.emit("session_request", {})
    await asyncio.wait_for(ready.wait(), 60)
    figures["connect, session and history"].append(time.perf_counter() - started)
    for n in range(messages):
        first_reply.clear()
        sent = time.perf_counter()
        ack = await client.call("user_uttered", {"message": QUESTIONS[n % len(QUESTIONS)],
                                                 "message_id": secrets.token_hex(8)}, timeout=120)
        figures["message to acknowledgement"].append(time.perf_counter() - sent)
        if not ack.get("ok"):
            errors.append(str(ack))
        try:
            await asyncio.wait_for(first_reply.wait(), 30)
            figures["message to first bot message"].append(time.perf_counter() - sent)
        except asyncio.TimeoutError:
            errors.append("no bot message")
    for namespace in client.namespaces:
        await client._send_packet(client.packet_class(socketio.packet.DISCONNECT, namespace=namespace))
    await client.eio.disconnect(abort=True)


async def run(url: str, visitors: int, messages: int) -> tuple[dict[str, list[float]], list[str], float]:
    figures: dict[str, list[float]] = {"connect, session and history": [], "message to acknowledgement": [],
                                       "message to first bot message": []}
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(visitor(url, EMAILS[n % len(EMAILS)], messages, figures, errors)
                           for n in range(visitors)))
    return figures, errors, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=20)
    parser.add_argument("--messages", type=int, default=3)
    args = parser.parse_args()
    ensure_model()
    with tempfile.TemporaryDirectory() as scratch:
        running = start_stack(Path(scratch) / "stack")
        try:
            for visitors in (1, args.visitors):
                figures, errors, seconds = asyncio.run(run(running.stack.rasa_url, visitors, args.messages))
                total = visitors * args.messages
                print(f"\n{visitors} visitor(s) at once, {args.messages} messages each: {total} messages in "
                      f"{seconds:.1f} s, {len(errors)} errors")
                for name, values in figures.items():
                    print(f"  {name:32} n={len(values):<4} p50={percentile(values, .5) * 1000:7.0f} ms  "
                          f"p95={percentile(values, .95) * 1000:7.0f} ms  max={max(values) * 1000:7.0f} ms")
        finally:
            running.stack.stop()


if __name__ == "__main__":
    main()
