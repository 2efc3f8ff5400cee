"""Project-level checks: the CLI, the domain's responses, and the lock."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from bot.settings import PROJECT_ROOT
from bot.sms import is_gsm7
from tests.conftest import DEMO_SEED


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env=env, timeout=120)


def test_cli_loads_a_seed_file(tmp_path):
    result = cli("ats", "load", str(DEMO_SEED), "--database", str(tmp_path / "ats.db"))
    assert result.returncode == 0, result.stderr
    assert "6 interviewers, 3 recruiters, 5 jobs, 10 candidates, 11 applications" in result.stdout


def test_cli_names_the_problem_in_a_bad_seed(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(DEMO_SEED.read_text().replace("stage: Technical Interview,", "stage: Lunch,", 1))
    result = cli("ats", "load", str(bad), "--database", str(tmp_path / "ats.db"))
    assert result.returncode == 2
    assert "candidates[0].applications[0].stage: 'Lunch' is not a stage of job j1" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "ats.db").exists()  # nothing half-loaded


def test_every_response_is_used_by_a_rule_a_story_or_an_action():
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
    dialogue = "".join(path.read_text() for path in (PROJECT_ROOT / "data").glob("*.yml"))
    action_code = "".join(path.read_text() for path in (PROJECT_ROOT / "actions").glob("*.py"))
    # utter_ask_rephrase and utter_default are used by Rasa's own two-stage fallback, utter_ask_<slot> by forms.
    form_slots = {slot for form in domain["forms"].values() for slot in form["required_slots"]}
    used_by_rasa = {"utter_ask_rephrase", "utter_default"} | {f"utter_ask_{slot}" for slot in form_slots}
    unused = [name for name in domain["responses"]
              if name not in dialogue and f'"{name}"' not in action_code and name not in used_by_rasa]
    assert unused == []


def test_the_lock_pins_every_package_exactly():
    lines = [line for line in (PROJECT_ROOT / "requirements" / "lock.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.+]+", line) for line in lines), lines
    names = {line.split("==")[0].lower() for line in lines}
    assert {"rasa", "rasa-sdk", "tensorflow", "sanic", "twilio", "sqlalchemy", "phonenumbers"} <= names


def test_bot_never_imports_rasa():
    offenders = [str(path.relative_to(PROJECT_ROOT)) for path in (PROJECT_ROOT / "bot").rglob("*.py")
                 if re.search(r"^\s*(from|import)\s+rasa(_sdk)?\b", path.read_text(), re.MULTILINE)]
    assert offenders == []


def test_every_response_text_stays_in_the_sms_alphabet():
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
    texts = [variant.get("text", "") for variants in domain["responses"].values() for variant in variants]
    texts += [button["title"] for variants in domain["responses"].values() for variant in variants
              for button in variant.get("buttons", [])]
    assert [text for text in texts if not is_gsm7(text)] == []


def test_cli_checks_a_knowledge_file_and_shows_what_a_question_finds(tmp_path):
    knowledge = PROJECT_ROOT / "data" / "knowledge" / "faqs.yml"
    checked = cli("knowledge", "check", str(knowledge))
    assert checked.returncode == 0 and "is valid: 43 entries" in checked.stdout
    asked = cli("knowledge", "ask", "--file", str(knowledge), "how", "long", "is", "maternity", "leave")
    assert asked.returncode == 0 and "parental-leave  (answers)" in asked.stdout
    broken = tmp_path / "faqs.yml"
    broken.write_text(knowledge.read_text().replace("topic: benefits", "topic: perks", 1))
    refused = cli("knowledge", "check", str(broken))
    assert refused.returncode == 2 and "faqs[0].topic: must be one of" in refused.stderr


def test_cli_lists_handoffs_with_their_state(tmp_path):
    import datetime as dt
    import os

    from bot.handoff import HandoffCard, HandoffDesk, HandoffRules
    from bot.store import open_state_db

    desk = HandoffDesk(open_state_db(tmp_path / "state.db"), HandoffRules(slack_enabled=True))
    live, _ = desk.open("sms-abc", "twilio", HandoffCard("sensitive_topic", "twilio"), candidate_id="c1")
    ended, _ = desk.open("sms-def", "twilio", HandoffCard("requested_by_candidate", "twilio"))
    desk.claim(live.id, "U0DANA", now=dt.datetime.now(dt.timezone.utc))
    desk.close(ended.id, "U0DANA")
    env = {**os.environ, "STATE_DATABASE": str(tmp_path / "state.db")}
    listed = cli("handoffs", env=env)
    assert listed.returncode == 0, listed.stderr
    assert f"#{live.id}" in listed.stdout and "claimed with U0DANA" in listed.stdout and "candidate=c1" in listed.stdout
    assert "recruiter must handle personally" in listed.stdout and f"#{ended.id}" not in listed.stdout
    everything = cli("handoffs", "--all", env=env)
    assert f"#{ended.id}" in everything.stdout and "closed" in everything.stdout
