"""The action server answers only the Rasa server (security review, 1): a real `python -m actions.server` process."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bot.settings import PROJECT_ROOT
from bot.sms import conversation_id_for
from tests.conftest import DEMO_SEED
from tests.stack_fixture import free_port

TOKEN = secrets.token_hex(32)
PRIYA = "+16175550101"


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "ATS_DATABASE": str(tmp / "ats.db"),
            "ATS_SEED_FILE": str(DEMO_SEED), "STATE_DATABASE": str(tmp / "state.db"),
            "KNOWLEDGE_FILE": str(PROJECT_ROOT / "data" / "knowledge" / "faqs.yml"), **extra}


@pytest.fixture(scope="module")
def action_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("actions")
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "actions.server", "--port", str(port)], cwd=PROJECT_ROOT,
                               env=_env(tmp, ACTION_SERVER_TOKEN=TOKEN), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "the action server did not start"
        time.sleep(0.2)
    yield url, port
    process.terminate()
    process.wait(10)


def _forged_status_call() -> dict:
    """The review's request: Priya's verified phone in her own conversation, posted straight to the action server."""
    key = "candidate-assistant-local"
    message = {"text": "where's my application?", "intent": {"name": "check_status", "confidence": 1.0},
               "entities": [], "metadata": {"verified_phone": PRIYA}}
    return {"next_action": "action_check_status", "version": "3.6.21", "domain": {},
            "tracker": {"sender_id": conversation_id_for(PRIYA, key), "slots": {}, "latest_message": message,
                        "events": [{"event": "user", "text": message["text"], "parse_data": message,
                                    "input_channel": "twilio", "metadata": message["metadata"]}],
                        "paused": False, "followup_action": None, "active_loop": {},
                        "latest_action_name": "action_listen"}}


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer wrong-token", f"Basic {TOKEN}",
                                           f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x"])
def test_a_call_without_the_rasa_servers_token_runs_nothing(action_server, authorization):
    url, _ = action_server
    headers = {"Authorization": authorization} if authorization is not None else {}
    answer = requests.post(f"{url}/webhook", json=_forged_status_call(), headers=headers, timeout=10)
    assert answer.status_code == 401
    assert "Technical Interview" not in answer.text and "Dana" not in answer.text
    assert requests.get(f"{url}/actions", headers=headers, timeout=10).status_code == 401


def test_with_the_token_a_forged_tracker_still_proves_no_identity(action_server):
    url, _ = action_server
    answer = requests.post(f"{url}/webhook", json=_forged_status_call(), headers={"Authorization": f"Bearer {TOKEN}"},
                           timeout=10)
    assert answer.status_code == 200
    assert "Technical Interview" not in answer.text and "Dana" not in answer.text
    assert [m.get("response") for m in answer.json()["responses"]] == ["utter_status_unverified_channel"]


def test_an_error_never_echoes_the_posted_tracker(action_server):
    url, _ = action_server
    call = _forged_status_call()
    call["tracker"]["events"] = "not a list"  # the executor fails on it
    answer = requests.post(f"{url}/webhook", json=call, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code >= 400
    assert PRIYA not in answer.text and "where's my application" not in answer.text


def test_the_health_check_is_open_and_says_only_ok(action_server):
    url, _ = action_server
    assert requests.get(f"{url}/health", timeout=5).json() == {"status": "ok"}


def test_the_action_server_listens_on_loopback_only(action_server):
    _, port = action_server
    addresses = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
    outside = [address for address in addresses if "." in address and not address.startswith("127.")]
    if not outside:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{outside[0]}:{port}/health", timeout=3)


@pytest.mark.parametrize("token", [None, "short"])
def test_the_action_server_will_not_start_without_a_real_token(tmp_path, token):
    env = _env(tmp_path)
    env.pop("ACTION_SERVER_TOKEN", None)
    if token is not None:
        env["ACTION_SERVER_TOKEN"] = token
    done = subprocess.run([sys.executable, "-m", "actions.server", "--port", str(free_port())], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "ACTION_SERVER_TOKEN must be set" in done.stderr
