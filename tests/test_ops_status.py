"""The status pages (GET /webhooks/{ats_updates,scheduled,recruiter_slack,slack,web}/): "ok" to anyone, so load
balancers and health checks can use them; which secrets are set and the queue counts only to the team that runs
the assistant, with `Authorization: Bearer <OPS_TOKEN>`. Each page is called through its blueprint's own route."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.access import bearer_matches
from bot.settings import Settings
from channels.ats_updates import ATSUpdates
from channels.candidate_slack import SlackCandidates
from channels.delivery import ScheduledDelivery
from channels.recruiter_slack import RecruiterSlack
from channels.web import WebChat
from tests.routes import call_route
from tests.stack_fixture import DEMO_SEED

OPS_TOKEN = "ops-token-for-tests-0123456789abcdef"
CHANNELS: dict[str, Callable[[Settings], object]] = {
    "ats_updates": ATSUpdates, "scheduled": ScheduledDelivery, "recruiter_slack": RecruiterSlack,
    "slack": SlackCandidates, "web": WebChat,
}
DETAILS = {"ats_updates": "events", "scheduled": "sms_outbox", "recruiter_slack": "live_handoffs", "slack": "inbox",
           "web": "jwt"}


def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ops_token: str | None) -> Settings:
    for name, value in {"ATS_DATABASE": tmp_path / "ats.db", "STATE_DATABASE": tmp_path / "state.db",
                        "ATS_SEED_FILE": DEMO_SEED, "ATS_BACKEND": "embedded",
                        "GREENHOUSE_WEBHOOK_SECRET": "a-greenhouse-secret"}.items():
        monkeypatch.setenv(name, str(value))
    if ops_token is None:
        monkeypatch.delenv("OPS_TOKEN", raising=False)
    else:
        monkeypatch.setenv("OPS_TOKEN", ops_token)
    return Settings.from_env()


def _status_page(channel: str, settings: Settings, headers: dict[str, str] | None = None):
    blueprint = CHANNELS[channel](settings).blueprint(lambda message: None)
    return call_route(blueprint, "GET", "/", headers=headers)


@pytest.mark.parametrize("channel", sorted(CHANNELS))
@pytest.mark.parametrize("headers", [
    None, {"Authorization": "Bearer not-the-token"}, {"Authorization": OPS_TOKEN},
    {"Authorization": f"Basic {OPS_TOKEN}"}, {"Authorization": f"Bearer {OPS_TOKEN}x"},
    {"Authorization": "Bearer ünïcode"}, {"X-Ops-Token": OPS_TOKEN},
], ids=["none", "wrong", "no-scheme", "basic", "longer", "unicode", "other-header"])
def test_a_status_page_tells_a_caller_without_the_ops_token_only_that_the_server_is_up(
        channel, headers, tmp_path, monkeypatch):
    answer = _status_page(channel, _settings(tmp_path, monkeypatch, OPS_TOKEN), headers)
    assert (answer.status, answer.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_a_status_page_shows_its_queues_to_a_caller_with_the_ops_token(channel, tmp_path, monkeypatch):
    settings = _settings(tmp_path, monkeypatch, OPS_TOKEN)
    for scheme in ("Bearer", "bearer"):
        answer = _status_page(channel, settings, {"Authorization": f"{scheme} {OPS_TOKEN}"})
        assert answer.status == 200 and answer.json()["status"] == "ok"
        assert DETAILS[channel] in answer.json()


def test_the_ats_status_page_says_which_webhooks_are_configured_only_to_the_ops_token(tmp_path, monkeypatch):
    settings = _settings(tmp_path, monkeypatch, OPS_TOKEN)
    assert "webhooks" not in _status_page("ats_updates", settings).json()
    details = _status_page("ats_updates", settings, {"Authorization": f"Bearer {OPS_TOKEN}"}).json()
    assert details["webhooks"] == {"greenhouse": True, "lever": False, "generic": False}


@pytest.mark.parametrize("channel", sorted(CHANNELS))
@pytest.mark.parametrize("header", ["Bearer ", "Bearer", "Bearer None", "Bearer null"])
def test_with_no_ops_token_set_no_caller_gets_the_details(channel, header, tmp_path, monkeypatch):
    answer = _status_page(channel, _settings(tmp_path, monkeypatch, None), {"Authorization": header})
    assert answer.json() == {"status": "ok"}


def test_the_ops_token_check_wants_the_bearer_scheme_and_the_exact_token():
    assert bearer_matches(f"Bearer {OPS_TOKEN}", OPS_TOKEN)
    assert bearer_matches(f"  bearer   {OPS_TOKEN} ", OPS_TOKEN)
    for header in (None, "", "Bearer", f"Bearer {OPS_TOKEN[:-1]}", f"Token {OPS_TOKEN}", f"Bearer{OPS_TOKEN}",
                   "Bearer \udcff", f"Bearer {OPS_TOKEN} extra"):
        assert not bearer_matches(header, OPS_TOKEN), header
    assert not bearer_matches("Bearer ", None) and not bearer_matches("Bearer ", "")
