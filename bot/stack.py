"""Starting the assistant's processes (action server, Rasa server) and stopping them cleanly.

One launcher for `make run`, the integration tests and the benchmarks, so all three run the
stack the same way. It starts commands; it does not import Rasa.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import PROJECT_ROOT

DEFAULT_MODEL = PROJECT_ROOT / "models" / "candidate-assistant.tar.gz"


@dataclass
class Stack:
    rasa_port: int = 5005
    action_port: int = 5055
    # Loopback unless told otherwise: the action server is never public, and a local Rasa server is reached
    # through a tunnel or proxy (a container sets 0.0.0.0 and sits behind its own network rules, deploy/).
    host: str = "127.0.0.1"
    action_host: str = "127.0.0.1"
    model: Path = DEFAULT_MODEL
    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None  # None: children write to this terminal
    api_token: str | None = None  # set to enable Rasa's HTTP API, protected by this token
    processes: list[subprocess.Popen] = field(default_factory=list)
    _action_token: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def sms_webhook_url(self) -> str:
        return f"{self.rasa_url}/webhooks/twilio/webhook"

    @property
    def action_url(self) -> str:
        return f"http://127.0.0.1:{self.action_port}/webhook"

    def child_env(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        env.setdefault("ACTION_ENDPOINT_URL", self.action_url)
        # The Rasa server authenticates to the action server with it (endpoints.yml, actions/server.py).
        env.setdefault("ACTION_SERVER_TOKEN", self._action_token)
        env["ACTION_SERVER_HOST"] = self.action_host
        env.setdefault("TRACKER_DB", str(PROJECT_ROOT / "var" / "tracker.db"))
        # Next to the tracker, so each test stack (its own TRACKER_DB) also keeps its own event log.
        env.setdefault("EVENT_BROKER_DB", str(Path(env["TRACKER_DB"]).with_name("events.db")))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["RASA_TELEMETRY_ENABLED"] = "false"  # nothing leaves the machine, no candidate data in reports
        return env

    def _spawn(self, name: str, command: list[str]) -> None:
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes.append(subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=self.child_env(), stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,  # Ctrl-C reaches us; we stop the children ourselves, in order
        ))

    def start(self, timeout: float = 180.0) -> Stack:
        if not self.model.exists():
            raise FileNotFoundError(f"no trained model at {self.model}; run `make model` first")
        self._spawn("actions", [sys.executable, "-m", "actions.server", "--actions", "actions",
                                "--port", str(self.action_port)])
        command = [sys.executable, "-m", "rasa", "run", "--model", str(self.model), "--interface", self.host,
                   "--port", str(self.rasa_port), "--credentials", "credentials.yml", "--endpoints", "endpoints.yml"]
        if self.api_token:
            command += ["--enable-api", "--auth-token", self.api_token]
        self._spawn("rasa", command)
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = {
            "action server": f"http://127.0.0.1:{self.action_port}/health",
            "Rasa server": f"{self.rasa_url}/webhooks/twilio/",
        }
        while pending:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{' '.join(map(str, process.args[:4]))} exited with {process.returncode}"
                                       + (f"; see {self.log_dir}" if self.log_dir else ""))
            for name, url in list(pending.items()):
                try:
                    with urllib.request.urlopen(url, timeout=2) as reply:  # noqa: S310 - our own localhost URL
                        if reply.status == 200:
                            del pending[name]
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
            if pending:
                time.sleep(0.5)

    def stop(self, grace: float = 30.0) -> None:
        # Rasa first, and the action server only once Rasa has exited: messages Rasa is still finishing need
        # their actions (stopping both at once lost those answers under load). Under load Rasa takes about 20 s
        # to exit (its delivery loops up to 5 s, then Sanic's 15 s for the requests it holds): SIGKILL after 30.
        deadline = time.monotonic() + grace
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(max(2.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *_) -> None:
        self.stop()
