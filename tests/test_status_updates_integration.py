"""End to end: a signed ATS webhook arrives, and the candidate's phone gets the right text.

Real Rasa and action servers; Greenhouse and Lever are fakes built from their API docs (tests/fakes/),
SMS leaves through the fake Twilio REST API. Covers Greenhouse, Lever and the generic format, forged
signatures, repeats, STOP, rejections, quiet hours, and a restart with an update still queued.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
import sqlalchemy as sa
import yaml

from bot.ats.embedded import EmbeddedATS
from bot.ats_webhooks import generic_signature
from bot.clock import now_utc, to_db
from bot.status_updates import status_updates_table
from tests.fakes.greenhouse_api import FakeGreenhouseAPI
from tests.fakes.lever_api import FakeLeverAPI
from tests.stack_fixture import ATS_WEBHOOK_SECRET, DEMO_SEED, RunningStack, start_stack

GREENHOUSE_SECRET = "greenhouse-webhook-secret-key-for-tests"
LEVER_TOKEN = "lever-signature-token-for-tests"
SEED = yaml.safe_load(DEMO_SEED.read_text())

DIEGO, JAMES, LENA, PRIYA = "+13105550110", "+16175550102", "+4915112345678", "+16175550101"


def _stages(job_id: str) -> list[str]:
    job = next(j for j in SEED["jobs"] if j["id"] == job_id)
    return [s if isinstance(s, str) else s["name"] for s in job["stages"]]


def _stage_after(job_id: str, stage: str) -> str:
    stages = _stages(job_id)
    return stages[stages.index(stage) + 1]


def _hook_url(running: RunningStack, source: str) -> str:
    return f"{running.stack.rasa_url}/webhooks/ats_updates/{source}"


def _updates(running: RunningStack) -> list[dict]:
    engine = sa.create_engine(f"sqlite:///{running.workdir / 'state.db'}")
    try:
        with engine.connect() as connection:
            return [dict(row) for row in connection.execute(sa.select(status_updates_table)).mappings()]
    finally:
        engine.dispose()


def _wait_for_update(running: RunningStack, application_id: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [r for r in _updates(running) if r["application_id"] == application_id]
        if rows:
            return rows[-1]
        time.sleep(0.2)
    raise AssertionError(f"no status update decided for application {application_id}")


def _no_sms_for(twilio_api, phone: str, before: int, seconds: float = 3.0) -> None:
    time.sleep(seconds)
    assert len(twilio_api.sent_to(phone)) == before


def _next_sms(twilio_api, phone: str, before: int, timeout: float = 30) -> str:
    """The next text to `phone` (the fake Twilio API is shared by the whole session)."""
    return twilio_api.wait_for(phone, before + 1, timeout=timeout)[before]


# --- Greenhouse --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def greenhouse() -> Iterator[FakeGreenhouseAPI]:
    fake = FakeGreenhouseAPI.from_seed(SEED).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def gh_stack(tmp_path_factory, greenhouse: FakeGreenhouseAPI, twilio_api) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("greenhouse-stack"), twilio_api=twilio_api, extra_env={
        "ATS_BACKEND": "greenhouse", "GREENHOUSE_API_KEY": greenhouse.api_key,
        "GREENHOUSE_BASE_URL": greenhouse.base_url + "/v1", "GREENHOUSE_USER_ID": str(greenhouse.ids["r1"]),
        "GREENHOUSE_WEBHOOK_SECRET": GREENHOUSE_SECRET, "ATS_TIMEOUT_SECONDS": "6",
    })
    yield running
    running.stack.stop()


def _gh_move(fake: FakeGreenhouseAPI, seed_application: str, job_id: str, stage: str, status: str = "active") -> dict:
    """What a recruiter does in Greenhouse: the application moves (the fake's records change)."""
    application_id = fake.ids[seed_application]
    stage_id = fake.ids[f"{job_id}/{stage}"]
    with fake._lock:
        record = next(a for a in fake.applications if a["id"] == application_id)
        record["current_stage"] = {"id": stage_id, "name": stage}
        record["status"] = status
        record["last_activity_at"] = now_utc().strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if status == "rejected":
            record["rejected_at"] = record["last_activity_at"]
            record["rejection_reason"] = {"id": 1, "name": "Not a fit", "type": {"id": 1, "name": "We rejected them"}}
        return json.loads(json.dumps(record))


def _gh_post(running: RunningStack, application: dict, secret: str = GREENHOUSE_SECRET) -> requests.Response:
    body = json.dumps({"action": "candidate_stage_change", "payload": {"application": application}}).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return requests.post(_hook_url(running, "greenhouse"), data=body, timeout=30,
                         headers={"Content-Type": "application/json", "Signature": f"sha256 {signature}"})


def _seed_app_id(candidate: str, job: str) -> str:
    from bot.ats.seed import read_seed_file

    return next(a.id for a in read_seed_file(DEMO_SEED).applications if a.candidate_id == candidate and a.job_id == job)


def test_greenhouse_stage_change_texts_the_candidate_once(gh_stack, greenhouse, twilio_api) -> None:
    stage = _stage_after("j1", "Technical Interview")
    before = len(twilio_api.sent_to(DIEGO))
    application = _gh_move(greenhouse, _seed_app_id("c10", "j1"), "j1", stage)
    answer = _gh_post(gh_stack, application)
    assert answer.status_code == 200 and answer.json() == {"received": 1}

    text = _next_sms(twilio_api, DIEGO, before)
    assert "Diego" in text and "Machine Learning Engineer" in text and stage in text
    assert "book your interview" in text and "1 - Book my interview" in text  # the stage has a bookable interview
    # The update is in the conversation, so the candidate's answer continues it.
    bot_texts = [e.get("text") or "" for e in gh_stack.tracker_events(DIEGO) if e["event"] == "bot"]
    assert any(stage in t for t in bot_texts)

    assert _gh_post(gh_stack, application).status_code == 200  # Greenhouse retried: still one text
    time.sleep(3)
    assert len(twilio_api.sent_to(DIEGO)) == before + 1

    # "1" answers the update's numbered choice: booking starts, with the ATS's new stage.
    reply = gh_stack.text(DIEGO, "1")
    assert reply.status == 200 and stage in reply.text and "time" in reply.text.lower()


def test_forged_greenhouse_webhook_is_refused(gh_stack, greenhouse, twilio_api) -> None:
    before = len(twilio_api.sent_to(JAMES))
    application = _gh_move(greenhouse, _seed_app_id("c2", "j2"), "j2", _stage_after("j2", "Recruiter Screen"))
    answer = _gh_post(gh_stack, application, secret="not-the-secret")
    assert answer.status_code == 401
    unsigned = requests.post(_hook_url(gh_stack, "greenhouse"), json={"action": "candidate_stage_change"}, timeout=30)
    assert unsigned.status_code == 401
    _no_sms_for(twilio_api, JAMES, before)


def test_opted_out_candidate_gets_no_update(gh_stack, greenhouse, twilio_api) -> None:
    assert gh_stack.text(JAMES, "STOP").status == 200
    before = len(twilio_api.sent_to(JAMES))
    application = _gh_move(greenhouse, _seed_app_id("c2", "j2"), "j2", _stage_after("j2", "Recruiter Screen"))
    assert _gh_post(gh_stack, application).status_code == 200
    row = _wait_for_update(gh_stack, str(application["id"]))
    assert row["status"] == "skipped" and "opted out" in row["last_error"]
    _no_sms_for(twilio_api, JAMES, before)


def test_rejection_is_left_to_people(gh_stack, greenhouse, twilio_api) -> None:
    before = len(twilio_api.sent_to(LENA))
    application = _gh_move(greenhouse, _seed_app_id("c9", "j5"), "j5", "Technical Interview", status="rejected")
    assert _gh_post(gh_stack, application).status_code == 200
    row = _wait_for_update(gh_stack, str(application["id"]))
    assert row["status"] == "skipped" and "STATUS_UPDATE_REJECTIONS" in row["last_error"]
    _no_sms_for(twilio_api, LENA, before)


def test_greenhouse_down_an_apology_now_and_the_update_once_it_is_back(gh_stack, greenhouse, twilio_api) -> None:
    omar = "+16175550108"
    before = len(twilio_api.sent_to(omar))
    stage = _stage_after("j4", "Application Review")
    application = _gh_move(greenhouse, _seed_app_id("c8", "j4"), "j4", stage)
    greenhouse.fail_next(100_000, "500")  # Greenhouse is down
    try:
        reply = gh_stack.text(omar, "where's my application?")
        assert reply.status == 200 and "can't reach our application system" in reply.text
        assert _gh_post(gh_stack, application).status_code == 200  # the notice is kept all the same
        _no_sms_for(twilio_api, omar, before, seconds=3)
    finally:
        with greenhouse._lock:
            greenhouse.failures.clear()  # Greenhouse is back
    text = _next_sms(twilio_api, omar, before, timeout=60)  # the event is retried with backoff
    assert "Omar" in text and stage in text
    assert stage in gh_stack.text(omar, "where's my application?").text


def test_quiet_hours_hold_the_update_through_a_restart(gh_stack, greenhouse, twilio_api) -> None:
    """Queued at night in the candidate's zone; the server restarts; in the morning the text goes."""
    local = dt.datetime.now(ZoneInfo("America/New_York"))  # Priya's number is a Boston one
    before = len(twilio_api.sent_to(PRIYA))
    start, end = local - dt.timedelta(hours=1), local + dt.timedelta(hours=2)
    gh_stack.stack.stop()
    gh_stack.stack.env["QUIET_HOURS"] = f"{start:%H:%M}-{end:%H:%M}"
    gh_stack.stack.start()

    application = _gh_move(greenhouse, _seed_app_id("c1", "j1"), "j1", _stage_after("j1", "Technical Interview"))
    assert _gh_post(gh_stack, application).status_code == 200
    row = _wait_for_update(gh_stack, str(application["id"]))
    assert row["status"] == "pending"
    # The end of the quiet hours next comes at end's time of day: today, or tomorrow once that time has passed
    # (a window that crosses midnight, as it does when this runs in the evening in New York).
    wake = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if wake <= local:
        wake += dt.timedelta(days=1)
    assert abs((row["next_attempt_at"].replace(tzinfo=dt.timezone.utc) - wake).total_seconds()) < 60
    _no_sms_for(twilio_api, PRIYA, before, seconds=2)

    gh_stack.stack.stop()  # a deploy in the night: the update waits in the state database
    engine = sa.create_engine(f"sqlite:///{gh_stack.workdir / 'state.db'}")
    with engine.begin() as connection:  # morning comes (for this row)
        connection.execute(status_updates_table.update().where(status_updates_table.c.id == row["id"])
                           .values(next_attempt_at=to_db(now_utc())))
    engine.dispose()
    gh_stack.stack.env["QUIET_HOURS"] = "off"
    gh_stack.stack.start()
    text = _next_sms(twilio_api, PRIYA, before, timeout=40)
    assert "Priya" in text and _stage_after("j1", "Technical Interview") in text
    time.sleep(2)
    assert len(twilio_api.sent_to(PRIYA)) == before + 1


# --- Lever -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lever() -> Iterator[FakeLeverAPI]:
    fake = FakeLeverAPI.from_seed(SEED).start()
    yield fake
    fake.stop()


def test_lever_stage_change_texts_the_candidate(tmp_path: Path, lever: FakeLeverAPI, twilio_api) -> None:
    running = start_stack(tmp_path / "lever-stack", twilio_api=twilio_api, extra_env={
        "ATS_BACKEND": "lever", "LEVER_API_KEY": lever.api_key, "LEVER_BASE_URL": lever.base_url,
        "LEVER_USER_ID": lever.ids["user:r1"], "LEVER_WEBHOOK_TOKEN": LEVER_TOKEN, "ATS_TIMEOUT_SECONDS": "6",
    })
    try:
        before = len(twilio_api.sent_to(LENA))
        stage = _stage_after("j5", "Technical Interview")
        opportunity_id = lever.ids[f"opportunity:{_seed_app_id('c9', 'j5')}"]
        with lever._lock:
            opportunity = next(o for o in lever.opportunities if o["id"] == opportunity_id)
            opportunity["stage"] = lever.ids[f"stage:{stage}"]
            moved_at = int(time.time() * 1000)
            opportunity["stageChanges"].append({"toStageId": opportunity["stage"], "toStageIndex": 0,
                                                "updatedAt": moved_at, "userId": lever.ids["user:r1"]})
            opportunity["lastAdvancedAt"] = opportunity["updatedAt"] = moved_at
        token, triggered = "a3f1c0de", int(time.time() * 1000)
        body = {"triggeredAt": triggered, "event": "candidateStageChange", "token": token,
                "signature": hmac.new(LEVER_TOKEN.encode(), f"{token}{triggered}".encode(), hashlib.sha256).hexdigest(),
                "data": {"opportunityId": opportunity_id, "toStageId": opportunity["stage"]}}
        forged = {**body, "signature": "0" * 64}
        assert requests.post(_hook_url(running, "lever"), json=forged, timeout=30).status_code == 401
        assert requests.post(_hook_url(running, "lever"), json=body, timeout=30).json() == {"received": 1}
        text = _next_sms(twilio_api, LENA, before)
        assert "Lena" in text and stage in text
    finally:
        running.stack.stop()


# --- the generic format, on the embedded ATS of the shared stack ------------------------------------------


def test_generic_webhook_on_the_embedded_ats(stack, twilio_api) -> None:
    omar = "+16175550108"
    before = len(twilio_api.sent_to(omar))
    ats = EmbeddedATS(stack.workdir / "ats.db", create=False)
    application = next(a for a in ats.applications_for("c8") if a.status == "active")
    next_stage = application.job.stage_after(application.stage).name
    ats.move_application(application.id, next_stage)
    raw = json.dumps({"event": "stage_changed", "application_id": application.id, "stage": next_stage}).encode()
    stamp = str(int(time.time()))
    url = f"{stack.stack.rasa_url}/webhooks/ats_updates/generic"
    stale = str(int(time.time()) - 3600)
    replayed = requests.post(url, data=raw, timeout=30, headers={
        "X-ATS-Timestamp": stale, "X-ATS-Signature": generic_signature(ATS_WEBHOOK_SECRET, stale, raw)})
    assert replayed.status_code == 401
    answer = requests.post(url, data=raw, timeout=30, headers={
        "Content-Type": "application/json", "X-ATS-Timestamp": stamp,
        "X-ATS-Signature": generic_signature(ATS_WEBHOOK_SECRET, stamp, raw)})
    assert answer.status_code == 200 and answer.json() == {"received": 1}
    text = _next_sms(twilio_api, omar, before)
    assert "Omar" in text and next_stage in text
