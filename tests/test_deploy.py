"""The event broker switch, and the production recipe in deploy/ kept consistent with what the tests run.

The SQL event broker is created from endpoints.yml the way `rasa run` creates it and receives a saved conversation's
events. The recipe (docker-compose.yml, nginx.conf, Dockerfile, the Helm values) is checked statically against the
code: the environment variables it reads, the commands bot/stack.py runs, the Makefile's install, one shared state
and Redis for every replica, secrets only as references, and a model that is never downloaded.
"""

from __future__ import annotations

import inspect
import json
import re
import shlex
import sqlite3
import sys
import tempfile
import urllib.parse
from functools import cache
from pathlib import Path

import pytest
import yaml
from rasa.core.brokers.broker import EventBroker
from rasa.core.brokers.kafka import KafkaEventBroker
from rasa.core.tracker_store import TrackerStore
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.settings import PROJECT_ROOT
from bot.stack import DEFAULT_MODEL, Stack
from channels.configured import RASA_DEFAULT_INTERFACE
from channels.event_broker import EventBrokerConfigError, SQLiteEventBroker

DEPLOY = PROJECT_ROOT / "deploy"
CODE = ("bot", "channels", "actions", "policies")
# Read by Python, Rasa, TensorFlow or matplotlib themselves rather than by this project's code.
READ_BY_THE_PLATFORM = {"PATH", "PYTHONPATH", "PYTHONUNBUFFERED", "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_NO_CACHE_DIR",
                        "RASA_TELEMETRY_ENABLED", "TF_CPP_MIN_LOG_LEVEL", "MPLCONFIGDIR",
                        "SANIC_PROXIES_COUNT"}  # Sanic reads SANIC_* into its config
SECRET = re.compile(r"TOKEN|SECRET|PASSWORD|_KEY$|_SID$|^REDIS_URL$")
INTERPOLATION = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::[-?][^}]*)?\}")
ENDPOINTS = str(PROJECT_ROOT / "endpoints.yml")


# --- the event broker -------------------------------------------------------------------------------------------

@pytest.fixture()
def broker_env(monkeypatch, tmp_path: Path) -> Path:
    for name in ("EVENT_BROKER", "KAFKA_URL", "KAFKA_TOPIC", "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_USERNAME",
                 "KAFKA_SASL_PASSWORD", "KAFKA_SASL_MECHANISM", "TRACKER_STORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACTION_ENDPOINT_URL", "http://127.0.0.1:5055/webhook")  # endpoints.yml needs them
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "t" * 64)
    monkeypatch.setenv("TRACKER_DB", str(tmp_path / "tracker.db"))
    monkeypatch.setenv("EVENT_BROKER_DB", str(tmp_path / "events.db"))
    return tmp_path / "events.db"


async def _broker_from_endpoints() -> EventBroker | None:
    """As rasa.core.agent.load_agent does it."""
    return await EventBroker.create(AvailableEndpoints.read_endpoints(ENDPOINTS).event_broker)


async def test_the_sql_event_broker_receives_every_event_a_saved_conversation_adds(broker_env: Path) -> None:
    endpoints = AvailableEndpoints.read_endpoints(ENDPOINTS)
    broker = await EventBroker.create(endpoints.event_broker)
    assert isinstance(broker, SQLiteEventBroker)  # EVENT_BROKER=sql is the default
    store = TrackerStore.create(endpoints.tracker_store, event_broker=broker)
    tracker = DialogueStateTracker.from_events("sms-0123abcd", [
        ActionExecuted("action_listen"),
        UserUttered("where's my application?", {"name": "check_status", "confidence": 0.93}),
    ])
    await store.save(tracker)
    tracker.update(BotUttered("Your application is at the Technical Interview stage."))
    await store.save(tracker)
    await broker.close()

    with sqlite3.connect(broker_env) as events:
        rows = events.execute("SELECT sender_id, data FROM events ORDER BY id").fetchall()
    published = [(sender, json.loads(data)) for sender, data in rows]
    assert {sender for sender, _ in published} == {"sms-0123abcd"}
    assert [event["event"] for _, event in published] == ["action", "user", "bot"]  # each event once, in order
    assert published[1][1]["text"] == "where's my application?"
    assert published[1][1]["parse_data"]["intent"]["name"] == "check_status"
    assert published[2][1]["text"] == "Your application is at the Technical Interview stage."


async def test_event_broker_none_turns_it_off(broker_env: Path, monkeypatch) -> None:
    monkeypatch.setenv("EVENT_BROKER", "none")
    assert await _broker_from_endpoints() is None
    assert not broker_env.exists()


@pytest.mark.parametrize(("settings", "message"), [
    ({"EVENT_BROKER": "rabbitmq"}, "EVENT_BROKER='rabbitmq' is not supported"),
    ({"EVENT_BROKER": "sql", "EVENT_BROKER_DB": ""}, "needs EVENT_BROKER_DB"),
    ({"EVENT_BROKER_DB": "{tmp}/tracker.db"}, "must not be the TRACKER_DB file"),
    ({"EVENT_BROKER": "kafka"}, "needs KAFKA_URL"),
    ({"EVENT_BROKER": "kafka", "KAFKA_URL": "kafka:9092", "KAFKA_SECURITY_PROTOCOL": "TLS"}, "'TLS' is not supported"),
    ({"EVENT_BROKER": "kafka", "KAFKA_URL": "kafka:9092", "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
      "KAFKA_SASL_USERNAME": "assistant"}, "needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"),
])
async def test_a_wrong_event_broker_setting_stops_the_server(broker_env: Path, monkeypatch, settings, message) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value.format(tmp=broker_env.parent))
    # Through Rasa's own factory: it would swallow an ImportError and run on without a broker; this must not.
    with pytest.raises(EventBrokerConfigError, match=re.escape(message)):
        await _broker_from_endpoints()


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"])
async def test_kafka_settings_reach_rasas_kafka_broker_and_librdkafka_accepts_them(broker_env: Path, monkeypatch,
                                                                                  protocol: str) -> None:
    monkeypatch.setenv("EVENT_BROKER", "kafka")
    monkeypatch.setenv("KAFKA_URL", "127.0.0.1:9, 127.0.0.2:9")
    monkeypatch.setenv("KAFKA_TOPIC", "candidate-events")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", protocol.lower())
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "assistant")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "kafka-password-for-tests")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    broker = await _broker_from_endpoints()
    try:
        assert isinstance(broker, KafkaEventBroker)
        assert broker.topic == "candidate-events" and broker.partition_by_sender  # a conversation stays in order
        config = broker._get_kafka_config()
        assert config["bootstrap.servers"] == "127.0.0.1:9,127.0.0.2:9"
        assert config["security.protocol"] == protocol
        assert ("sasl.username" in config) == protocol.startswith("SASL_")
        if protocol.startswith("SASL_"):
            assert (config["sasl.username"], config["sasl.mechanism"]) == ("assistant", "SCRAM-SHA-512")
        producer = broker._create_producer()  # librdkafka checks the configuration here (no server needed)
        del producer
    finally:
        await broker.close()


def test_each_stack_keeps_its_event_log_next_to_its_tracker(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("EVENT_BROKER_DB", raising=False)
    monkeypatch.delenv("TRACKER_DB", raising=False)
    assert Stack().child_env()["EVENT_BROKER_DB"] == str(PROJECT_ROOT / "var" / "events.db")
    env = Stack(env={"TRACKER_DB": str(tmp_path / "tracker.db")}).child_env()
    assert env["EVENT_BROKER_DB"] == str(tmp_path / "events.db")


# --- what the recipe is checked against --------------------------------------------------------------------------

@cache
def variables_the_code_reads() -> frozenset[str]:
    calls = re.compile(r'(?:environ\.get|environ\.setdefault|getenv|_env_[a-z]+|_float_env|_choice)'
                       r'\(\s*"([A-Z][A-Z0-9_]+)"')
    items = re.compile(r'environ\[\s*"([A-Z][A-Z0-9_]+)"\s*\]')
    names: set[str] = set()
    for folder in CODE:
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            text = path.read_text()
            names |= set(calls.findall(text)) | set(items.findall(text))
    for config in ("endpoints.yml", "credentials.yml"):
        names |= set(INTERPOLATION.findall((PROJECT_ROOT / config).read_text()))
    return frozenset(names)


class _RecordingStack(Stack):
    """bot/stack.py's launcher, recording the commands it would start instead of starting them."""

    def _spawn(self, name: str, command: list[str]) -> None:
        self.commands[name] = command

    def wait_ready(self, timeout: float) -> None:
        pass


@cache
def stack_commands() -> dict[str, list[str]]:
    """What `make run` and the integration tests run, as the image runs it: `python` in the project directory."""
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / DEFAULT_MODEL.name  # Stack.start wants a model file; its default needs `make model`
        model.touch()
        stack = _RecordingStack(model=model, host=RASA_DEFAULT_INTERFACE)  # a container binds all its interfaces
        stack.commands = {}
        stack.start()
    in_image = str(DEFAULT_MODEL.relative_to(PROJECT_ROOT))  # the default model, from the project directory
    return {name: ["python" if arg == sys.executable else in_image if arg == str(model) else arg for arg in command]
            for name, command in stack.commands.items()}


def _option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_the_checks_see_what_the_code_reads() -> None:
    assert {"TWILIO_AUTH_TOKEN", "REDIS_URL", "TRACKER_STORE", "LOCK_STORE", "EVENT_BROKER", "EVENT_BROKER_DB",
            "KAFKA_URL", "STATE_DATABASE", "ACTION_ENDPOINT_URL", "CONVERSATION_ID_KEY"} <= variables_the_code_reads()
    assert stack_commands()["rasa"][:4] == ["python", "-m", "rasa", "run"]
    assert stack_commands()["actions"][:3] == ["python", "-m", "actions.server"]


# --- docker-compose.yml and nginx.conf ---------------------------------------------------------------------------

@cache
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def _app_services(kind: str) -> dict[str, dict]:
    module = {"rasa": "rasa", "actions": "actions.server"}[kind]
    return {name: service for name, service in compose()["services"].items()
            if service.get("command", [None] * 3)[:3] == ["python", "-m", module]}


def _nginx() -> str:
    return re.sub(r"#.*", "", (DEPLOY / "nginx.conf").read_text())


def _upstreams() -> dict[str, list[tuple[str, int]]]:
    return {name: [(host, int(port)) for host, port in re.findall(r"\bserver\s+([\w.-]+):(\d+)", body)]
            for name, body in re.findall(r"upstream\s+(\w+)\s*\{(.*?)\}", _nginx(), re.DOTALL)}


def test_compose_runs_several_replicas_of_each_with_the_commands_bot_stack_runs() -> None:
    rasa, actions = _app_services("rasa"), _app_services("actions")
    assert len(rasa) >= 2 and len(actions) >= 2
    assert all(service["command"] == stack_commands()["rasa"] for service in rasa.values())
    assert all(service["command"] == stack_commands()["actions"] for service in actions.values())
    image = {service["image"] for service in [*rasa.values(), *actions.values()]}
    assert len(image) == 1  # one image, two commands
    # Health checks ask what bot/stack.py waits for before it calls the stack ready.
    waits_for = inspect.getsource(Stack.wait_ready)
    for services, port, path in ((rasa, _option(stack_commands()["rasa"], "--port"), "/webhooks/twilio/"),
                                 (actions, _option(stack_commands()["actions"], "--port"), "/health")):
        assert path in waits_for
        assert all(f"http://127.0.0.1:{port}{path}" in " ".join(s["healthcheck"]["test"]) for s in services.values())


def test_compose_sets_only_variables_the_code_reads_and_the_same_for_every_replica() -> None:
    services = {**_app_services("rasa"), **_app_services("actions")}
    environments = [service["environment"] for service in services.values()]
    assert all(env == environments[0] for env in environments)  # one environment, as bot/stack.py gives both
    assert set(environments[0]) - variables_the_code_reads() - READ_BY_THE_PLATFORM == set()


def test_compose_replicas_share_redis_and_one_state_volume() -> None:
    services = {**_app_services("rasa"), **_app_services("actions")}
    env = next(iter(services.values()))["environment"]
    assert (env["TRACKER_STORE"], env["LOCK_STORE"]) == ("redis", "redis")
    redis_url = urllib.parse.urlsplit(INTERPOLATION.sub("password", env["REDIS_URL"]))
    assert "redis-server" in compose()["services"][redis_url.hostname]["command"]
    mounts = {tuple(service["volumes"]) for service in services.values()}
    assert len(mounts) == 1  # the same volumes everywhere
    shared = {mount.split(":")[1] for mount in next(iter(mounts)) if mount.split(":")[0] in compose()["volumes"]}
    assert len(shared) == 1
    shared_dir = Path(shared.pop())
    for name in ("STATE_DATABASE", "ATS_DATABASE", "EVENT_BROKER_DB", "EMAIL_OUTBOX_DIR"):
        assert shared_dir in Path(env[name]).parents, name
    assert "--appendonly" in compose()["services"][redis_url.hostname]["command"]  # conversations survive a restart


def test_the_load_balancer_spreads_over_every_replica_and_keeps_web_chat_sessions_on_one() -> None:
    rasa, actions = _app_services("rasa"), _app_services("actions")
    rasa_port = int(_option(stack_commands()["rasa"], "--port"))
    action_port = int(_option(stack_commands()["actions"], "--port"))
    upstreams = _upstreams()
    assert sorted(upstreams["rasa"]) == sorted((name, rasa_port) for name in rasa)
    assert sorted(upstreams["rasa_sticky"]) == sorted((name, rasa_port) for name in rasa)
    assert sorted(upstreams["actions"]) == sorted((name, action_port) for name in actions)
    sticky = re.search(r"upstream\s+rasa_sticky\s*\{(.*?)\}", _nginx(), re.DOTALL).group(1)
    assert re.search(r"\b(ip_hash|hash\s+\$(binary_)?remote_addr)", sticky)
    assert re.search(r"location\s+/socket\.io/\s*\{[^}]*proxy_pass\s+http://rasa_sticky;", _nginx())
    assert re.search(r"location\s+/\s*\{[^}]*proxy_pass\s+http://rasa;", _nginx())

    # Rasa calls its actions through the balancer, on a port that is not published.
    action_url = urllib.parse.urlsplit(next(iter(rasa.values()))["environment"]["ACTION_ENDPOINT_URL"])
    lb = compose()["services"][action_url.hostname]
    assert action_url.path == "/webhook"
    servers = re.split(r"\bserver\s*\{", _nginx())[1:]
    to_actions = [s for s in servers if re.search(rf"listen\s+{action_url.port};", s)]
    assert len(to_actions) == 1 and "proxy_pass http://actions;" in to_actions[0]
    published = [mapping.rsplit(":", 1)[1] for mapping in lb["ports"]]
    assert str(action_url.port) not in published
    assert all(re.search(rf"listen\s+{port};", _nginx()) for port in published)


def test_compose_takes_secrets_only_as_references() -> None:
    env = next(iter(_app_services("rasa").values()))["environment"]
    for name, value in env.items():
        if name == "REDIS_URL":
            assert re.fullmatch(r"redis://:\$\{REDIS_PASSWORD(?::\?[^}]*)?\}@[\w-]+:\d+/\d+", value), value
        elif SECRET.search(name):
            assert INTERPOLATION.fullmatch(value), f"{name} must be a ${{VAR}} reference, not {value!r}"
    redis = compose()["services"]["redis"]
    assert any(INTERPOLATION.fullmatch(arg) for arg in redis["command"])
    assert all(INTERPOLATION.fullmatch(value) for value in redis["environment"].values())
    # env.example names every variable the compose file takes, with no value filled in.
    example = [line for line in (DEPLOY / "env.example").read_text().splitlines() if line and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*=", line) for line in example), example
    referenced = set(INTERPOLATION.findall(re.sub(r"(?m)^\s*#.*$", "", (DEPLOY / "docker-compose.yml").read_text())))
    assert {line[:-1] for line in example} == referenced
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()


# --- the Dockerfile -----------------------------------------------------------------------------------------------

@cache
def dockerfile() -> list[tuple[str, str]]:
    """The instructions (keyword, arguments), continuation lines joined and comments dropped."""
    lines = [line for line in (DEPLOY / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in text.splitlines()
            if line.strip()]


def _final_stage() -> list[tuple[str, str]]:
    starts = [index for index, (keyword, _) in enumerate(dockerfile()) if keyword == "FROM"]
    return dockerfile()[starts[-1]:]


def test_the_image_installs_the_lock_the_way_the_makefile_does() -> None:
    makefile = [line.strip() for line in (PROJECT_ROOT / "Makefile").read_text().splitlines()]
    steps = [line for line in makefile if "-m pip install" in line or "scripts/pip_check.py" in line]
    runs = [part.strip() for keyword, arguments in dockerfile() if keyword == "RUN" for part in arguments.split("&&")]
    image_steps = [part for part in runs if "-m pip install" in part or "scripts/pip_check.py" in part]

    def without_interpreter(step: str) -> list[str]:
        words = [word for word in shlex.split(step) if word not in ("--quiet", "--no-cache-dir")]
        return words[1:]  # $(BIN)/python or /opt/venv/bin/python

    assert [without_interpreter(step) for step in image_steps] == [without_interpreter(step) for step in steps]
    assert len(image_steps) == 3  # the lock, the project, the pip check
    python = {keyword: arguments for keyword, arguments in dockerfile()}["ARG"]
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert re.search(rf"PYTHON_IMAGE=python:{re.escape(version)}[.\d]*-slim", python)  # the Python the tests run on
    assert ("COPY", "requirements/lock.txt requirements/lock.txt") in dockerfile()


def test_the_image_carries_the_model_and_starts_what_bot_stack_starts() -> None:
    final = dict(_final_stage())
    workdir = Path(final["WORKDIR"])
    assert workdir != Path("/app")  # Rasa's Helm chart mounts its own endpoints.yml and credentials.yml there
    model = DEFAULT_MODEL.relative_to(PROJECT_ROOT)
    copies = [arguments.split() for keyword, arguments in _final_stage() if keyword == "COPY"]
    assert [str(model), str(workdir / model)] in copies
    assert json.loads(final["CMD"]) == stack_commands()["rasa"]
    env = dict(item.split("=", 1) for item in shlex.split(final["ENV"]))
    assert set(env) <= READ_BY_THE_PLATFORM | variables_the_code_reads()
    assert env["PYTHONPATH"] == str(workdir)
    stack_env = Stack().child_env()
    assert {name: env[name] for name in ("RASA_TELEMETRY_ENABLED", "TF_CPP_MIN_LOG_LEVEL")} == {
        name: stack_env[name] for name in ("RASA_TELEMETRY_ENABLED", "TF_CPP_MIN_LOG_LEVEL")}
    assert final["USER"] != "root"


def test_nothing_downloads_or_trains_a_model_at_run_time() -> None:
    commands = [" ".join(service.get("command") or []) for service in compose()["services"].values()]
    commands += [arguments for keyword, arguments in dockerfile() if keyword in ("RUN", "CMD", "ENTRYPOINT")]
    for values in (helm("rasa"), helm("actions")):
        commands.append(" ".join(values.get("command", []) + values.get("args", [])))
    assert not [command for command in commands if re.search(r"\btrain\b|curl|wget|https?://", command)]
    settings = helm("rasa")["applicationSettings"]
    assert settings["initialModel"] == "" and settings["trainInitialModel"] is False
    assert not settings["endpoints"].get("models", {}).get("enabled", False)


def test_the_build_context_keeps_out_secrets_and_the_venv_but_keeps_the_model() -> None:
    rules = [line.strip() for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert {".venv", ".git", "var", "**/.env"} <= set(rules)
    assert rules.index("!models/candidate-assistant.tar.gz") > rules.index("models/*")
    assert not [rule for rule in rules if rule.rstrip("/") in ("requirements", "bot", "actions", "channels", "data")]


# --- the Helm values -----------------------------------------------------------------------------------------------

@cache
def helm(release: str) -> dict:
    return yaml.safe_load((DEPLOY / "helm" / f"values-{release}.yaml").read_text())


def test_helm_runs_several_replicas_of_each_with_the_commands_bot_stack_runs() -> None:
    rasa, actions = helm("rasa"), helm("actions")
    assert rasa["command"] + rasa["args"] == stack_commands()["rasa"]
    assert actions["command"] + actions["args"] == stack_commands()["actions"]
    assert rasa["replicaCount"] >= 2 and actions["replicaCount"] >= 2
    assert str(rasa["applicationSettings"]["port"]) == _option(stack_commands()["rasa"], "--port")
    assert str(actions["applicationSettings"]["port"]) == _option(stack_commands()["actions"], "--port")
    assert (rasa["registry"], rasa["image"]) == (actions["registry"], actions["image"])
    for values, path in ((rasa, "/webhooks/twilio/"), (actions, "/health")):
        assert path in inspect.getsource(Stack.wait_ready)
        assert values["livenessProbe"]["httpGet"]["path"] == values["readinessProbe"]["httpGet"]["path"] == path
    # The action server's chart allows neither (its schema wants null): the release name names the Service.
    assert "fullnameOverride" not in actions and "repository" not in actions["image"]
    action_url = urllib.parse.urlsplit(_helm_env(rasa)["ACTION_ENDPOINT_URL"]["value"])
    assert action_url.hostname == "rasa-action-server" and action_url.port == actions["service"]["port"]
    assert "helm install rasa-action-server rasa/rasa-action-server" in (DEPLOY / "README.md").read_text()
    assert not actions["ingress"]["enabled"]  # only the Rasa pods call the action server: never exposed


def test_helm_turns_off_what_the_chart_would_add() -> None:
    rasa = helm("rasa")
    assert rasa["applicationSettings"]["telemetry"]["enabled"] is False
    assert rasa["applicationSettings"]["enableAPI"] is False
    assert not any(rasa[part]["install"] for part in ("postgresql", "redis", "rabbitmq", "rasa-action-server"))
    assert not rasa["nginx"]["enabled"]
    assert "upstream-hash-by" in " ".join(rasa["ingress"]["annotations"])  # web chat sessions stay on one replica


def _helm_env(values: dict) -> dict[str, dict]:
    return {item["name"]: {key: value for key, value in item.items() if key != "name"} for item in values["extraEnv"]}


def test_helm_sets_the_variables_compose_sets_and_takes_secrets_from_a_secret() -> None:
    rasa, actions = _helm_env(helm("rasa")), _helm_env(helm("actions"))
    assert rasa == actions  # one environment, as bot/stack.py gives both processes one
    compose_env = next(iter(_app_services("rasa").values()))["environment"]
    assert set(rasa) == set(compose_env)
    assert set(rasa) - variables_the_code_reads() - READ_BY_THE_PLATFORM == set()
    for name, source in rasa.items():
        if SECRET.search(name):
            assert "value" not in source and "secretKeyRef" in source["valueFrom"], name
    assert (rasa["TRACKER_STORE"]["value"], rasa["LOCK_STORE"]["value"]) == ("redis", "redis")
    assert rasa["REDIS_URL"]["valueFrom"]["secretKeyRef"].get("optional") is not True


def test_helm_replicas_share_one_state_volume_on_one_node() -> None:
    rasa, actions = helm("rasa"), helm("actions")
    for part in ("volumes", "volumeMounts", "nodeSelector", "podSecurityContext"):
        assert rasa[part] == actions[part], part
    assert rasa["nodeSelector"]  # SQLite: one node (deploy/README.md, "Limits")
    (mount,) = rasa["volumeMounts"]
    (volume,) = rasa["volumes"]
    assert volume["name"] == mount["name"] and volume["persistentVolumeClaim"]["claimName"]
    claim = yaml.safe_load((DEPLOY / "helm" / "data-volume.yaml").read_text())
    assert claim["metadata"]["name"] == volume["persistentVolumeClaim"]["claimName"]
    env = _helm_env(rasa)
    for name in ("STATE_DATABASE", "ATS_DATABASE", "EVENT_BROKER_DB", "EMAIL_OUTBOX_DIR"):
        assert Path(mount["mountPath"]) in Path(env[name]["value"]).parents, name


def test_the_action_server_needs_the_rasa_servers_token_and_only_rasa_pods_reach_it() -> None:
    compose_env = next(iter(_app_services("actions").values()))["environment"]
    assert re.fullmatch(r"\$\{ACTION_SERVER_TOKEN:\?[^}]+\}", compose_env["ACTION_SERVER_TOKEN"])  # required
    for release in ("rasa", "actions"):
        token = _helm_env(helm(release))["ACTION_SERVER_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert token["name"] == "candidate-assistant" and token.get("optional") is not True
    endpoints = (PROJECT_ROOT / "endpoints.yml").read_text()
    assert "Authorization: Bearer ${ACTION_SERVER_TOKEN}" in endpoints
    policy = yaml.safe_load((DEPLOY / "helm" / "network-policy.yaml").read_text())
    assert policy["kind"] == "NetworkPolicy" and policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["podSelector"]["matchLabels"] == helm("actions")["podLabels"]
    [rule] = policy["spec"]["ingress"]
    assert [source["podSelector"]["matchLabels"] for source in rule["from"]] == [helm("rasa")["podLabels"]]
    assert [port["port"] for port in rule["ports"]] == [helm("actions")["applicationSettings"]["port"]]
    assert "kubectl apply -f deploy/helm/network-policy.yaml" in (DEPLOY / "README.md").read_text()


# --- what is reachable from the internet --------------------------------------------------------------------------

PUBLIC_PREFIXES = ("/socket.io/", "/webhooks/web/", "/webhooks/twilio/", "/webhooks/recruiter_slack/",
                   "/webhooks/ats_updates/", "/webhooks/calendar/")
REST_URIS = ("/webhooks/rest/webhook", "/webhooks/rest/", "/webhooks/rest")


def _nginx_location_for(uri: str, server: str) -> str:
    """The body of the location nginx picks for a (normalised) URI: an exact match, else the longest prefix."""
    locations = re.findall(r"location\s+(=|\^~)?\s*(\S+)\s*\{([^}]*)\}", server)
    assert not [path for modifier, path, _ in locations if modifier not in ("", "=", "^~")]  # no regex locations
    exact = [body for modifier, path, body in locations if modifier == "=" and path == uri]
    if exact:
        return exact[0]
    prefixes = sorted(((path, body) for modifier, path, body in locations if modifier != "=" and uri.startswith(path)),
                      key=lambda location: len(location[0]))
    return prefixes[-1][1]


def test_nginx_does_not_route_the_rest_channel_to_rasa() -> None:
    (public,) = [s for s in re.split(r"\bserver\s*\{", _nginx())[1:] if re.search(r"listen\s+8080;", s)]
    for uri in REST_URIS:
        chosen = _nginx_location_for(uri, public)
        assert "proxy_pass" not in chosen and re.search(r"return\s+40[34]\b|deny\s+all", chosen), uri
    for prefix in PUBLIC_PREFIXES:
        assert "proxy_pass" in _nginx_location_for(prefix, public), prefix


def test_the_helm_ingress_routes_only_the_public_webhooks() -> None:
    ingress = helm("rasa")["ingress"]
    paths = [(ingress["path"], ingress["pathType"]),
             *((extra["path"], extra["pathType"]) for extra in ingress.get("extraPaths", []))]
    assert {path for path, _ in paths} == set(PUBLIC_PREFIXES)
    assert {kind for _, kind in paths} == {"Prefix"}
    assert not any(uri.startswith(path.rstrip("/")) for uri in REST_URIS for path, _ in paths)
    twilio_url = _helm_env(helm("rasa"))["TWILIO_WEBHOOK_URL"]["value"]
    assert any(urllib.parse.urlsplit(twilio_url.replace("$(PUBLIC_BASE_URL)", "https://x")).path.startswith(path)
               for path, _ in paths)
    for extra in ingress.get("extraPaths", []):  # the chart copies these as they are: they name the Service
        assert extra["backend"]["service"] == {"name": "rasa", "port": {"name": "http"}}


def test_behind_the_proxy_the_per_client_limits_see_each_client_not_the_proxy() -> None:
    # One proxy hop in front of every replica (nginx, or the ingress): Sanic takes the client from X-Forwarded-For.
    compose_env = next(iter(_app_services("rasa").values()))["environment"]
    assert str(compose_env["SANIC_PROXIES_COUNT"]) == "1"
    assert _helm_env(helm("rasa"))["SANIC_PROXIES_COUNT"]["value"] == "1"
