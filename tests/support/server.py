"""The real server as a subprocess: `servicekonto migrate`, then `servicekonto serve` on a free port.

Its output goes to a file (a pipe nobody reads would fill and stall the server); `LiveServer.output()`
reads it back, so a failing test can show what the server said.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
POLL_INTERVAL = 0.05
CLEAN_EXIT = frozenset({0, -signal.SIGTERM})  # uvicorn re-raises SIGTERM after a graceful shutdown
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerFailed(RuntimeError):
    """The server did not start, or a command of it failed; the message carries its output."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def random_secret(length: int = 48) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def servicekonto_command(*args: str) -> list[str]:
    """The installed console script, as an operator runs it; `python -m servicekonto` where it is missing."""
    script = Path(sys.executable).with_name("servicekonto")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "servicekonto", *args]


def server_environment(data_dir: Path, base_url: str, *, secret_key: str,
                       extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server under test: none of the developer's own SERVICEKONTO_* settings leak in,
    and the project root is importable (for test-only app factories and writers in `tests.support`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVICEKONTO_")}
    env.update({
        "SERVICEKONTO_ENVIRONMENT": "test",
        "SERVICEKONTO_DATA_DIR": str(data_dir),
        "SERVICEKONTO_BASE_URL": base_url,
        "SERVICEKONTO_SECRET_KEY": secret_key,
        "SERVICEKONTO_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])),
    })
    env.update(extra or {})
    return env


def run_command(command: Sequence[str], env: Mapping[str, str], *, timeout: float = 120.0) -> str:
    """Run a command to its end; its stdout, or ServerFailed with everything it printed."""
    done = subprocess.run(list(command), env=dict(env), cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise ServerFailed(f"{' '.join(command)} exited with {done.returncode}\n"
                           f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")
    return done.stdout


def http_status(url: str, *, timeout: float = 5.0) -> int | None:
    """The status of a GET, or None when nothing answers."""
    try:
        with _NO_PROXY.open(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None


@dataclass
class LiveServer:
    base_url: str
    port: int
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] | None = field(repr=False, default=None)

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def output(self, since: int = 0) -> str:
        """What the server printed (stdout and stderr), from byte offset `since`."""
        with self.log_path.open("rb") as fh:
            fh.seek(since)
            return fh.read().decode("utf-8", errors="replace")

    def output_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, *, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM (uvicorn shuts down gracefully), SIGKILL if it hangs; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
        return int(self.process.returncode)


def wait_until_answering(server: LiveServer, path: str = "/healthz", *, timeout: float = START_TIMEOUT,
                         expect: int = 200) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise ServerFailed(f"the server exited with {server.process.returncode} before it answered "
                               f"{path}\n--- output\n{server.output()}")
        if http_status(server.url(path), timeout=2.0) == expect:
            return
        time.sleep(POLL_INTERVAL)
    raise ServerFailed(f"{server.url(path)} did not answer {expect} within {timeout:.0f} s\n"
                       f"--- output\n{server.output()}")


def start_server(
    data_dir: Path,
    command_for_port: Callable[[int], Sequence[str]],
    *,
    extra_env: Mapping[str, str] | None = None,
    migrate: bool = True,
    secret_key: str | None = None,
    ready_path: str = "/healthz",
    name: str = "server",
) -> LiveServer:
    """Start a server on a free port and wait until `ready_path` answers 200.

    A port found free can be taken by someone else before the server binds it; then it tries another.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    # One secret per data dir: it encrypts the signing keys that `migrate` creates.
    secret_key = secret_key or random_secret()
    last_error: ServerFailed | None = None
    for attempt in range(3):
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = server_environment(data_dir, base_url, secret_key=secret_key, extra=extra_env)
        if migrate and attempt == 0:
            run_command(servicekonto_command("migrate"), env)
        log_path = data_dir / f"{name}-{port}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(list(command_for_port(port)), env=env, cwd=PROJECT_ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        server = LiveServer(base_url=base_url, port=port, data_dir=data_dir, env=env, process=process,
                            log_path=log_path, _log=log)
        try:
            wait_until_answering(server, ready_path)
        except ServerFailed as exc:
            server.stop()
            last_error = exc
            if "address already in use" in server.output().lower():
                continue
            raise
        return server
    assert last_error is not None
    raise last_error


def serve_command(port: int) -> list[str]:
    return servicekonto_command("serve", "--host", "127.0.0.1", "--port", str(port))


def uvicorn_factory_command(factory: str) -> Callable[[int], list[str]]:
    """Run a test-only app factory (`module:function`) under uvicorn, configured like `servicekonto serve`."""

    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1", "--port",
                str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--no-server-header"]

    return command


@contextmanager
def running_server(data_dir: Path, *, extra_env: Mapping[str, str] | None = None,
                command_for_port: Callable[[int], Sequence[str]] = serve_command,
                name: str = "server") -> Iterator[LiveServer]:
    """A server for the length of the block; it fails the block's end if the server died on its way."""
    server = start_server(data_dir, command_for_port, extra_env=extra_env, name=name)
    try:
        yield server
    finally:
        died_early = not server.alive()
        code = server.stop()
    if died_early or code not in CLEAN_EXIT:
        raise ServerFailed(f"the server {'had exited' if died_early else 'stopped'} with {code}\n"
                           f"--- output\n{server.output()[-20_000:]}")
