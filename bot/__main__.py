"""Command line: `python -m bot ...` (also installed as `candidate-assistant`).

  ats load FILE        replace the embedded ATS data with a seed file (checked first)
  ats check FILE       check a seed file without loading it
  ats show             what the embedded ATS holds
  ats connect          check the configured ATS (ATS_BACKEND) answers with the credentials given
  ats move APP STAGE   move an embedded-ATS application to a stage; the candidate gets a status update
  knowledge check FILE check a knowledge file without using it
  knowledge ask TEXT   which knowledge entries a question finds, with their scores
  handoffs [--all]     conversations with a recruiter or waiting for one
  bookings             upcoming booked interviews (embedded ATS)
  outbox               reminders and SMS waiting to go out, and what happened to the last ones
  sms send --from N T  text the running assistant as Twilio would (signed), print the reply
  forget --phone P | --email E | --candidate ID [--yes]
                       erase a candidate's conversations and records (GDPR); without --yes, show what it would
  purge [--days N]     remove conversations idle longer than N days (default DATA_RETENTION_DAYS; 0 keeps all)
  run                  start the action server and the Rasa server on embedded defaults
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from bot.ats import SeedError
from bot.ats.embedded import EmbeddedATS
from bot.ats.seed import DEMO_SEED, read_seed_file
from bot.handoff import REASONS, HandoffDesk
from bot.knowledge import KnowledgeError
from bot.outbox import DurableQueue, ReminderQueue, SmsOutbox
from bot.settings import PROJECT_ROOT, Settings
from bot.store import open_state_db
from bot.twilio_webhook import inbound_params, signature_for, twiml_messages
from bot.when import format_slot

DEV_TOKEN_FILE = PROJECT_ROOT / "var" / "dev-twilio-auth-token"


def dev_twilio_token() -> str:
    """TWILIO_AUTH_TOKEN, or on a developer machine a random local token kept in var/."""
    return os.environ.get("TWILIO_AUTH_TOKEN") or dev_secret(DEV_TOKEN_FILE.name)


def dev_secret(name: str) -> str:
    """A random secret for local runs, made once and kept (owner-readable only) in var/."""
    path = DEV_TOKEN_FILE.parent / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16))
        path.chmod(0o600)
    return path.read_text().strip()


def _ats_load(args: argparse.Namespace) -> int:
    seed = read_seed_file(args.file)
    database = Path(args.database) if args.database else Settings.from_env().ats_database
    ats = EmbeddedATS(database)
    ats.load_seed(seed)
    counts = ", ".join(f"{count} {name}" for name, count in ats.counts().items())
    print(f"Loaded {args.file} into {database}: {counts}.")
    return 0


def _ats_check(args: argparse.Namespace) -> int:
    seed = read_seed_file(args.file)
    print(f"{args.file} is valid: {len(seed.recruiters)} recruiters, {len(seed.jobs)} jobs, "
          f"{len(seed.candidates)} candidates, {len(seed.applications)} applications.")
    return 0


def _ats_show(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    ats = EmbeddedATS(settings.ats_database, create=False)
    print(f"{settings.ats_database}: {ats.company().name}")
    for name, count in ats.counts().items():
        print(f"  {name}: {count}")
    for job in ats.list_jobs():
        print(f"  job {job.id}: {job.title} ({' > '.join(stage.name for stage in job.stages)})")
    return 0


def _ats_connect(args: argparse.Namespace) -> int:
    from bot.ats import ATSError, open_ats

    settings = Settings.from_env()
    try:
        ats = open_ats(settings)
        if hasattr(ats, "check_credentials"):
            ats.check_credentials()
        jobs = ats.list_jobs()
    except ATSError as error:
        print(f"ATS_BACKEND={settings.ats_backend}: {error}", file=sys.stderr)
        return 1
    print(f"ATS_BACKEND={settings.ats_backend}: connected; {ats.company().name}, {len(jobs)} jobs.")
    return 0


def _ats_move(args: argparse.Namespace) -> int:
    import datetime as dt

    from bot.sms import conversation_id_for
    from bot.status_updates import StatusUpdates

    settings = Settings.from_env()
    ats = EmbeddedATS(settings.ats_database, create=False)
    application = ats.get_application(args.application)
    if application is None:
        print(f"no application {args.application!r}", file=sys.stderr)
        return 1
    if application.job.stage_named(args.stage) is None:
        stages = ", ".join(stage.name for stage in application.job.stages)
        print(f"{application.job.title} has no stage {args.stage!r} (stages: {stages})", file=sys.stderr)
        return 1
    ats.move_application(application.id, application.job.stage_named(args.stage).name, args.status,
                         on=dt.date.today())
    updates = StatusUpdates(open_state_db(settings.state_database), settings,
                            lambda phone: conversation_id_for(phone, settings.conversation_id_key))
    updates.receive_event("cli", application.id, args.stage)
    print(f"Moved {application.id} to {args.stage} ({args.status}); the running assistant decides on the update "
          f"(see `python -m bot outbox`).")
    return 0


def _knowledge_check(args: argparse.Namespace) -> int:
    from bot.knowledge import TOPICS, KnowledgeBase

    summary = KnowledgeBase(args.file).describe()
    topics = ", ".join(f"{summary['topics'][topic]} {topic}" for topic in TOPICS if summary["topics"][topic])
    print(f"{args.file} is valid: {summary['entries']} entries ({topics}).")
    return 0


def _knowledge_ask(args: argparse.Namespace) -> int:
    from bot.knowledge import KnowledgeBase

    settings = Settings.from_env()
    knowledge = KnowledgeBase(args.file or settings.knowledge_file, threshold=settings.knowledge_threshold)
    question = " ".join(args.text)
    for match in knowledge.index().search(question, limit=3):
        verdict = "answers" if match.score >= knowledge.threshold else "below threshold"
        print(f"{match.score:.2f}  {match.entry.id}  ({verdict})")
    answer = knowledge.answer(question)
    print(f"\n{answer.entry.answer if answer.found else 'No confident answer: the assistant says it does not know.'}")
    return 0


def _handoffs(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    desk = HandoffDesk(open_state_db(settings.state_database))
    handoffs = desk.listing(live_only=not args.all)
    if not handoffs:
        print("No conversation is with a recruiter or waiting for one.")
    for handoff in handoffs:
        where = "in Slack" if handoff.takes_over else "queue only (Slack not configured)"
        with_whom = f" with {handoff.claimed_by}" if handoff.claimed_by else ""
        print(f"#{handoff.id} {handoff.created_at:%Y-%m-%d %H:%M} UTC  {handoff.status}{with_whom}  {where}  "
              f"{handoff.channel}  {handoff.conversation_id}  candidate={handoff.candidate_id or '?'}  "
              f"{REASONS[handoff.reason]}")
    print(f"Slack outbox: {desk.slack.counts() or 'empty'}; to candidates: {desk.deliveries.counts() or 'empty'}")
    return 0


def _bookings(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    ats = EmbeddedATS(settings.ats_database, create=False)
    with ats.engine.connect() as connection:
        candidate_ids = [row[0] for row in connection.exec_driver_sql("SELECT id FROM candidates ORDER BY id")]
    bookings = sorted((b for c in candidate_ids for b in ats.bookings_for(c)), key=lambda b: b.starts_at)
    if not bookings:
        print("No interviews are booked.")
    for booking in bookings:
        print(f"{booking.starts_at:%Y-%m-%d %H:%M} UTC  ({format_slot(booking.starts_at, booking.candidate_timezone)})"
              f"  {booking.id}  candidate={booking.candidate_id}  {booking.job_title}: {booking.stage}"
              f"  [{booking.format}]")
    return 0


def _outbox(args: argparse.Namespace) -> int:
    from bot.status_updates import ats_events_table, stale_nudges_table, status_updates_table

    state = open_state_db(Settings.from_env().state_database)
    # Read here from the state database: the servers' status pages show these only to OPS_TOKEN.
    ats_queues = [DurableQueue(state, table) for table in (ats_events_table, status_updates_table, stale_nudges_table)]
    for queue in (ReminderQueue(state), SmsOutbox(state), *ats_queues):
        print(f"{queue.table.name}: {queue.counts() or 'empty'}")
    with state.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT id, status, next_attempt_at, attempts, body FROM sms_outbox ORDER BY id DESC LIMIT ?",
            (args.last,)).all()
    for row in rows:
        print(f"  #{row.id} {row.status:8} attempts={row.attempts} next={row.next_attempt_at}  {row.body[:70]!r}")
    return 0


def _forget(args: argparse.Namespace) -> int:
    from bot.privacy import ErasureError, LookupFailed, erase_candidate

    try:
        report = erase_candidate(Settings.from_env(), phone=args.phone, email=args.email, candidate_id=args.candidate,
                                 dry_run=not args.yes)
    except ErasureError as error:
        print(f"forget: {error}", file=sys.stderr)
        return 2
    except LookupFailed as error:
        print(f"forget: {error}", file=sys.stderr)
        return 1
    if report.total == 0:
        print("Nothing to erase: no conversation or record of theirs is stored (or it was erased before).")
    else:
        print("Would erase (nothing has been changed yet):" if not args.yes else "Erased:")
    for line in report.lines():
        print(f"  {line}")
    if not args.yes:
        print("Nothing was erased. To erase it, run the same command again with --yes.")
        return 2
    return 0


def _purge(args: argparse.Namespace) -> int:
    from bot.privacy import purge_older_than

    settings = Settings.from_env()
    days = settings.data_retention_days if args.days is None else args.days
    if days < 0:
        print("purge: the retention must be 0 (keep everything) or a number of days", file=sys.stderr)
        return 2
    if days == 0:
        print("The retention is 0 days (DATA_RETENTION_DAYS unset or 0): conversations are kept; nothing was purged.")
        return 0
    report = purge_older_than(settings, days, dry_run=args.dry_run)
    print(f"{'Would purge' if args.dry_run else 'Purged'} what has been idle for more than {days:g} days:")
    for line in report.lines():
        print(f"  {line}")
    return 0


def _sms_send(args: argparse.Namespace) -> int:
    url = args.url or f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}/webhooks/twilio/webhook"
    params = inbound_params(args.sender, " ".join(args.text))
    request = urllib.request.Request(  # noqa: S310 - a URL the developer chose
        url, data=urllib.parse.urlencode(params).encode(), method="POST",
        headers={"X-Twilio-Signature": signature_for(url, params, dev_twilio_token()),
                 "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310
            messages = twiml_messages(reply.read().decode())
    except urllib.error.HTTPError as error:
        print(f"The webhook answered {error.code}: {error.read().decode()[:200]}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"Could not reach {url} ({error.reason}). Is the assistant running (make run)?", file=sys.stderr)
        return 1
    for message in messages or ["(no reply)"]:
        print(message, end="\n\n")
    return 0


def _run(args: argparse.Namespace) -> int:
    from bot.stack import Stack  # imported here: only `run` needs process management

    os.environ.setdefault("ATS_SEED_FILE", str(DEMO_SEED))
    os.environ["TWILIO_AUTH_TOKEN"] = dev_twilio_token()
    # The demo careers page signs visitors in as demo candidates, with a local secret (never in production).
    os.environ.setdefault("WEB_JWT_SECRET", dev_secret("web-jwt-secret"))
    os.environ.setdefault("WEB_DEMO_LOGIN", "true")
    settings = Settings.from_env()
    seed = read_seed_file(settings.ats_seed_file) if settings.ats_seed_file else None  # fail before starting
    rasa_port = int(os.environ.get("RASA_PORT", "5005"))
    # Both servers on loopback unless RASA_HOST says otherwise (a tunnel or proxy reaches a loopback port); the
    # action server always, and it answers only this Rasa server's token (made afresh for each run).
    stack = Stack(rasa_port=rasa_port, action_port=int(os.environ.get("ACTION_PORT", "5055")),
                  host=os.environ.get("RASA_HOST") or "127.0.0.1")
    print("Starting the action server and the Rasa server (loading the model takes about 20 s)...", flush=True)
    stack.start()
    example = seed.candidates[0].phone if seed and seed.candidates else "+16175550101"
    print(f"""
The candidate assistant is running.
  Demo careers page with the chat widget: {stack.rasa_url}/webhooks/web/demo
      (sign in as a demo candidate there to ask about an application)
  SMS webhook (Twilio): {stack.sms_webhook_url}
      public URL for Twilio: set TWILIO_WEBHOOK_URL to it; signatures use TWILIO_AUTH_TOKEN
  Text it as a demo candidate, from another terminal:
      .venv/bin/python -m bot sms send --from {example} "where's my application?"
  Book an interview as a candidate in Los Angeles:
      .venv/bin/python -m bot sms send --from +13105550110 "can I schedule my interview"
  Recruiter queue:  .venv/bin/python -m bot handoffs    Bookings: .venv/bin/python -m bot bookings
  Reminders and out-of-band SMS: .venv/bin/python -m bot outbox (sent only when TWILIO_ACCOUNT_SID,
      TWILIO_FROM_NUMBER and TWILIO_API_BASE_URL point at Twilio or a test double)
  ATS data: {settings.ats_database} (from {settings.ats_seed_file or 'the loaded seed'})
Press Ctrl-C to stop.""", flush=True)
    stopped = {"signal": False}

    def _stop(*_):
        stopped["signal"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopped["signal"]:
            for process in stack.processes:
                if process.poll() is not None:
                    print(f"A server stopped unexpectedly (exit {process.returncode}); shutting down.")
                    stopped["signal"] = True
            time.sleep(1)
    finally:
        print("\nStopping...", flush=True)
        stack.stop()
        print("Stopped.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="The candidate assistant's command line.")
    commands = parser.add_subparsers(dest="command", required=True)

    ats = commands.add_parser("ats", help="the embedded ATS").add_subparsers(dest="ats_command", required=True)
    load = ats.add_parser("load", help="replace the embedded ATS data with a seed file")
    load.add_argument("file")
    load.add_argument("--database", help="SQLite file (default: ATS_DATABASE or var/ats.db)")
    load.set_defaults(handler=_ats_load)
    check = ats.add_parser("check", help="check a seed file without loading it")
    check.add_argument("file")
    check.set_defaults(handler=_ats_check)
    ats.add_parser("show", help="what the embedded ATS holds").set_defaults(handler=_ats_show)
    ats.add_parser("connect", help="check the configured ATS answers (credentials)").set_defaults(
        handler=_ats_connect)
    move = ats.add_parser("move", help="move an embedded-ATS application to a stage (sends a status update)")
    move.add_argument("application")
    move.add_argument("stage")
    move.add_argument("--status", default="active", choices=("active", "rejected", "hired", "withdrawn"))
    move.set_defaults(handler=_ats_move)

    knowledge = commands.add_parser("knowledge", help="the knowledge base").add_subparsers(
        dest="knowledge_command", required=True)
    knowledge_check = knowledge.add_parser("check", help="check a knowledge file without using it")
    knowledge_check.add_argument("file")
    knowledge_check.set_defaults(handler=_knowledge_check)
    knowledge_ask = knowledge.add_parser("ask", help="which entries a question finds, with scores")
    knowledge_ask.add_argument("--file", help="knowledge file (default: KNOWLEDGE_FILE)")
    knowledge_ask.add_argument("text", nargs="+")
    knowledge_ask.set_defaults(handler=_knowledge_ask)

    handoffs = commands.add_parser("handoffs", help="conversations with a recruiter or waiting for one")
    handoffs.add_argument("--all", action="store_true", help="also those handed back or closed")
    handoffs.set_defaults(handler=_handoffs)
    commands.add_parser("bookings", help="upcoming booked interviews").set_defaults(handler=_bookings)
    outbox = commands.add_parser("outbox", help="reminders, SMS and status updates waiting to go out")
    outbox.add_argument("--last", type=int, default=10, help="how many recent SMS to list")
    outbox.set_defaults(handler=_outbox)

    sms = commands.add_parser("sms", help="talk to the running assistant over its SMS webhook")
    send = sms.add_subparsers(dest="sms_command", required=True).add_parser("send", help="send one signed SMS")
    send.add_argument("--from", dest="sender", required=True, help="sender's number, e.g. +16175550101")
    send.add_argument("--url", help="webhook URL (default: the local one)")
    send.add_argument("text", nargs="+")
    send.set_defaults(handler=_sms_send)

    forget = commands.add_parser("forget", help="erase a candidate's conversations and records (GDPR)",
                                 description="Erase everything the assistant holds about one person; an SMS opt-out "
                                             "is kept (see bot/privacy.py). Give one or more of:")
    forget.add_argument("--phone", help="their phone number")
    forget.add_argument("--email", help="their email address")
    forget.add_argument("--candidate", help="their candidate id in the ATS")
    forget.add_argument("--yes", action="store_true", help="erase (without it: only show what would be erased)")
    forget.set_defaults(handler=_forget)
    purge = commands.add_parser("purge", help="remove conversations idle longer than the retention")
    purge.add_argument("--days", type=float, help="retention in days (default: DATA_RETENTION_DAYS; 0 keeps all)")
    purge.add_argument("--dry-run", action="store_true", help="only count what would be removed")
    purge.set_defaults(handler=_purge)

    commands.add_parser("run", help="start the assistant on embedded defaults").set_defaults(handler=_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except SeedError as error:
        print(f"Seed file problem: {error}", file=sys.stderr)
        return 2
    except KnowledgeError as error:
        print(f"Knowledge file problem: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # a clear line for the operator instead of a traceback
        if os.environ.get("DEBUG"):
            raise
        print(f"Error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
