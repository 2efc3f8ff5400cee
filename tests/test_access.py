"""Local defaults stay local (security review, 2 and 9), and bearer tokens: bot/access.py."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time

import pytest

from bot.access import UnsafeConfiguration, check_safe_to_start, is_local_url, is_loopback, start_refusals
from bot.settings import PROJECT_ROOT, Settings
from bot.webchat import email_from_token
from channels.configured import RASA_DEFAULT_INTERFACE, bind_interface
from channels.web import WebChat
from tests.stack_fixture import free_port


@pytest.fixture()
def settings(monkeypatch, tmp_path):
    for name in ("CONVERSATION_ID_KEY", "WEB_JWT_SECRET", "WEB_ALLOWED_ORIGINS", "PUBLIC_BASE_URL", "WEB_DEMO_LOGIN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STATE_DATABASE", str(tmp_path / "state.db"))
    return Settings.from_env()


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                                ("[::1]", True), ("127.8.9.10", True), (RASA_DEFAULT_INTERFACE, False),
                                                ("::", False), ("192.0.2.2", False), ("example.com", False),
                                                ("", False), (None, False)])
def test_loopback_means_this_machine_only(host, loopback):
    assert is_loopback(host) is loopback


def test_a_local_url_is_one_on_this_machine():
    assert is_local_url("http://localhost:5005") and is_local_url("http://127.0.0.1:5005/x")
    assert not is_local_url("https://candidates.acme.example") and not is_local_url("http://localhost.evil.example")
    assert not is_local_url("not a url")


def test_make_runs_defaults_start_on_this_machine(settings):
    local = dataclasses.replace(settings, web_demo_login=True, web_jwt_secret="short")
    assert start_refusals(local, "127.0.0.1") == []


@pytest.mark.parametrize(("change", "named"), [
    ({"conversation_id_key": "candidate-assistant-local"}, "CONVERSATION_ID_KEY"),
    ({"web_jwt_secret": "careers-secret"}, "WEB_JWT_SECRET"),
    ({"web_allowed_origins": ("*",)}, "WEB_ALLOWED_ORIGINS"),
    ({"web_demo_login": True}, "WEB_DEMO_LOGIN"),
])
@pytest.mark.parametrize(("bind", "public_url"), [(RASA_DEFAULT_INTERFACE, "http://localhost:5005"),
                                                  ("127.0.0.1", "https://candidates.acme.example")])
def test_outside_local_use_each_local_default_stops_the_start(settings, change, named, bind, public_url):
    safe = dataclasses.replace(settings, conversation_id_key="k" * 40, web_jwt_secret="s" * 32,
                               web_allowed_origins=("https://careers.acme.example",), public_base_url=public_url)
    assert start_refusals(safe, bind) == []
    unsafe = dataclasses.replace(safe, **change)
    [refusal] = start_refusals(unsafe, bind)
    assert refusal.startswith(named)
    with pytest.raises(UnsafeConfiguration, match=named):
        check_safe_to_start(unsafe, bind)


def test_the_bind_is_what_rasa_run_was_told_else_every_interface():
    assert bind_interface(["rasa", "run", "--interface", "127.0.0.1", "--port", "5005"]) == "127.0.0.1"
    assert bind_interface(["rasa", "run", "-i", "::1"]) == "::1"
    assert bind_interface(["rasa", "run", "--interface=127.0.0.1"]) == "127.0.0.1"
    assert bind_interface(["rasa", "run", "--port", "5005"]) == RASA_DEFAULT_INTERFACE


# --- the demo careers page (2) ----------------------------------------------------------------------------------

def _demo(settings, email: str | None, from_this_machine: bool = True) -> str:
    channel = WebChat(dataclasses.replace(settings, web_demo_login=True, web_jwt_secret="s" * 32))
    return channel._demo_page(email, from_this_machine=from_this_machine)


def _token(page: str) -> str:
    return page.split('window.CandidateAssistantToken = "', 1)[1].split('"', 1)[0]


def test_the_demo_page_signs_in_a_demo_candidate(settings):
    assert email_from_token(_token(_demo(settings, "priya@example.com")), "s" * 32) == "priya@example.com"


@pytest.mark.parametrize("email", ["someone.else@example.com", "ceo@acme.example", "priya@example.com.evil",
                                   "dana@acme.example", "", None])
def test_the_demo_page_mints_no_token_for_anyone_but_a_demo_candidate(settings, email):
    assert _token(_demo(settings, email)) == ""


def test_the_demo_page_signs_nobody_in_for_a_visitor_from_another_machine(settings):
    page = _demo(settings, "priya@example.com", from_this_machine=False)
    assert _token(page) == ""
    assert "Priya" not in page and 'id="demo-login"' not in page  # not even the demo candidates' names


def test_without_demo_login_the_page_shows_no_demo_sign_in(settings):
    page = WebChat(dataclasses.replace(settings, web_jwt_secret="s" * 32))._demo_page("priya@example.com",
                                                                                        from_this_machine=True)
    assert _token(page) == "" and "Priya" not in page
    assert 'src="/webhooks/web/widget.js"' in page  # the careers page and its widget are still there


@pytest.mark.integration
def test_rasa_refuses_to_start_publicly_with_the_local_defaults(tmp_path):
    """`rasa run` on every interface with make run's defaults: it stops before loading the model, saying why."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "STATE_DATABASE": str(tmp_path / "state.db"),
           "TRACKER_DB": str(tmp_path / "tracker.db"), "EVENT_BROKER": "none", "TWILIO_AUTH_TOKEN": "t" * 32,
           "ACTION_ENDPOINT_URL": "http://127.0.0.1:9/webhook", "ACTION_SERVER_TOKEN": "a" * 64,
           "WEB_JWT_SECRET": "s" * 32, "WEB_DEMO_LOGIN": "true", "RASA_TELEMETRY_ENABLED": "false",
           "ATS_DATABASE": str(tmp_path / "ats.db")}
    for name in ("CONVERSATION_ID_KEY", "WEB_ALLOWED_ORIGINS", "PUBLIC_BASE_URL"):
        env.pop(name, None)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "rasa", "run", "--model", "models/candidate-assistant.tar.gz",
                           "--port", str(free_port()), "--credentials", "credentials.yml", "--endpoints",
                           "endpoints.yml"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-2000:]
    for named in ("WEB_DEMO_LOGIN", "CONVERSATION_ID_KEY", "WEB_ALLOWED_ORIGINS"):
        assert named in output
    assert "Rasa server is up and running" not in output
    assert time.monotonic() - started < 240
