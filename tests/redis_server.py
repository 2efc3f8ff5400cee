"""A real redis-server (Debian's package, which `make test` installs) on a free port, for the scale-out tests."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.stack_fixture import free_port


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen
    workdir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=0)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def restart(self) -> None:
        """Stop and start on the same port and data directory (the append-only file keeps the data)."""
        self.stop()
        self.process = _spawn(self.port, self.workdir)
        _wait(self.port)


def _spawn(port: int, workdir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), "--save", "",
         "--appendonly", "yes", "--appendfsync", "everysec"],
        stdout=(workdir / "redis.log").open("a"), stderr=subprocess.STDOUT)


def _wait(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping():
                return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def start_redis(workdir: Path) -> RedisServer:
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed: `make redis` (Debian's redis-server) installs it")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = RedisServer(port, _spawn(port, workdir), workdir)
    _wait(port)
    return server
