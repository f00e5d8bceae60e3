"""What our web shell costs per request, side by side with a bare Starlette app in one run.

Both servers run with the same uvicorn settings (uvloop, httptools, one worker, no access log of uvicorn's)
pinned to CPU 0; the load generator (wrk, or a bounded Python one) runs pinned to CPU 1, 32 keep-alive
connections, everything on 127.0.0.1. Cells are interleaved (ours, peer, ours, peer …) to spread drift, and
the table reports the median requests/s and the ratio ours/peer (reference/perf-anchors.md, same method).

    GET /healthz  vs  peer GET /json   JSONResponse({"status": "ok"}): the cost of our middleware
                                        (request id, locale, security headers, metrics, access log)
    GET /jwks     vs  peer GET /bytes  the same pre-built JWKS bytes from a bare route

Usage: python bench/http_shell.py [--runs 3] [--seconds 5] [--loadgen auto|wrk|python]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import cast

HOST = "127.0.0.1"
SERVER_CPU = 0
LOAD_CPU = 1
CONNECTIONS = 32
WARMUP_SECONDS = 1.0
START_TIMEOUT = 60.0


@dataclass
class Case:
    title: str
    ours_path: str
    peer_path: str
    skipped: str | None = None
    ours: list[float] = field(default_factory=list)
    peer: list[float] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- the peer


def serve_peer(port: int, body_file: Path, media_type: str) -> None:
    """A bare Starlette app with the uvicorn settings of `servicekonto serve`."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    body = body_file.read_bytes()

    async def as_json(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def as_bytes(request: Request) -> Response:
        return Response(body, media_type=media_type)

    app = Starlette(routes=[Route("/json", as_json), Route("/bytes", as_bytes)])
    uvicorn.run(app, host=HOST, port=port, workers=1, loop="uvloop", http="httptools", access_log=False,
                log_level="warning", proxy_headers=True, server_header=False, date_header=True)


# ------------------------------------------------------------------------------- the load generators

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a request, its whole response, the next request, until the deadline."""

    def __init__(self, request: bytes, deadline: float, counts: dict[str, int], done: asyncio.Future[None]):
        self.request = request
        self.deadline = deadline
        self.counts = counts
        self.done = done
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:end])
            match = _CONTENT_LENGTH.search(head)
            if match is None:  # our servers always send a length; anything else is an error
                self._finish(error=True)
                return
            total = end + 4 + int(match.group(1))
            if len(self.buffer) < total:
                return
            del self.buffer[:total]
            self.counts["ok" if head[9:10] == b"2" else "errors"] += 1
            if time.perf_counter() >= self.deadline:
                self._finish()
                return
            assert self.transport is not None
            self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.counts["errors"] += 1
            self.done.set_result(None)

    def _finish(self, *, error: bool = False) -> None:
        if error:
            self.counts["errors"] += 1
        if not self.done.done():
            self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()


async def _python_load(port: int, path: str, seconds: float, connections: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: */*\r\n\r\n".encode()
    counts = {"ok": 0, "errors": 0}
    started = time.perf_counter()
    deadline = started + seconds
    waiters: list[asyncio.Future[None]] = []
    for _ in range(connections):
        done: asyncio.Future[None] = loop.create_future()
        waiters.append(done)
        await loop.create_connection(partial(_Connection, request, deadline, counts, done), HOST, port)
    await asyncio.wait_for(asyncio.gather(*waiters), timeout=seconds + 10)
    elapsed = time.perf_counter() - started
    return {"rps": counts["ok"] / elapsed, "errors": counts["errors"]}


def python_load_main(port: int, path: str, seconds: float, connections: int) -> None:
    load = _python_load(port, path, seconds, connections)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(load)
    else:
        result = uvloop.run(load)
    print(json.dumps(result))


def _pinned(command: list[str], cpu: int, pin: bool) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if pin else command


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def measure(loadgen: str, port: int, path: str, seconds: float, pin: bool) -> float:
    """Requests per second of one load run; raises when any answer was not 2xx."""
    if loadgen == "wrk":
        command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
                   f"http://{HOST}:{port}{path}"]
    else:
        command = [sys.executable, __file__, "--load", str(port), path, "--seconds", str(seconds)]
    result = subprocess.run(_pinned(command, LOAD_CPU, pin), capture_output=True, text=True,
                            timeout=seconds + 30, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"load generator failed on {path}:\n{result.stderr.strip()[-3000:]}")
    if loadgen == "wrk":
        rps = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
        bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", result.stdout)
        errors = re.search(r"Socket errors:.*", result.stdout)
        if rps is None or bad or errors:
            raise RuntimeError(f"wrk on {path}: {result.stdout.strip()}")
        return float(rps.group(1))
    data = json.loads(result.stdout)
    if data["errors"]:
        raise RuntimeError(f"{data['errors']} failed requests on {path}")
    return float(data["rps"])


# ----------------------------------------------------------------------------------------- the servers


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str) -> tuple[int, bytes, str]:
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("content-type", "application/json")
    finally:
        conn.close()


def wait_until_up(proc: subprocess.Popen[bytes], port: int, path: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            if get(port, path)[0] == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not answer {path} within {START_TIMEOUT:.0f}s")


@contextlib.contextmanager
def running(command: list[str], *, env: dict[str, str], log: Path, pin: bool) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(_pinned(command, SERVER_CPU, pin), env=env, stdout=out, stderr=out,
                                stdin=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def our_environment(data_dir: Path, port: int, log_level: str) -> dict[str, str]:
    """A fresh test system: none of the caller's SERVICEKONTO_* settings leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVICEKONTO_")}
    env.update({
        "SERVICEKONTO_ENVIRONMENT": "test",
        "SERVICEKONTO_DATA_DIR": str(data_dir),
        "SERVICEKONTO_SECRET_KEY": secrets.token_urlsafe(48),
        "SERVICEKONTO_BASE_URL": f"http://{HOST}:{port}",
        "SERVICEKONTO_LOG_LEVEL": log_level,
        "SERVICEKONTO_LOG_FORMAT": "json",
    })
    return env


# --------------------------------------------------------------------------------------------- the run


def choose_loadgen(requested: str) -> str:
    if requested == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if requested == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk), or use --loadgen python")
    return requested


def fmt(values: list[float]) -> str:
    if not values:
        return "–"
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})"


def report(cases: list[Case], *, loadgen: str, pin: bool, runs: int, seconds: float, log_level: str) -> None:
    where = (f"servers on CPU {SERVER_CPU}, load on CPU {LOAD_CPU}" if pin
             else "not pinned (taskset missing or fewer than 2 CPUs)")
    generator = f"wrk -t1 -c{CONNECTIONS}" if loadgen == "wrk" else f"Python load generator, c={CONNECTIONS}"
    print()
    print("HTTP shell: Servicekonto vs a bare Starlette app, both uvicorn (uvloop, httptools, 1 worker)")
    print(f"{generator}; {where}; {runs} × {seconds:g} s per cell, interleaved; our log level {log_level}")
    print("requests/s: median (min–max)")
    print()
    print("| case | Servicekonto | peer | ours/peer |")
    print("|---|---:|---:|---:|")
    for case in cases:
        if case.skipped:
            print(f"| {case.title} | skipped: {case.skipped} | | |")
            continue
        ratio = statistics.median(case.ours) / statistics.median(case.peer)
        print(f"| {case.title} | {fmt(case.ours)} | {fmt(case.peer)} | {ratio:.2f} |")
    if loadgen == "python":
        print("\nNote: the Python load generator may saturate before the peer does; install wrk for "
              "sharper ratios.")


def run(args: argparse.Namespace) -> None:
    loadgen = choose_loadgen(args.loadgen)
    pin = bool(shutil.which("taskset")) and len(os.sched_getaffinity(0)) >= 2
    cases = [
        Case("GET /healthz vs JSON route (middleware)", "/healthz", "/json"),
        Case("GET /jwks vs pre-built bytes", "/jwks", "/bytes"),
    ]
    with tempfile.TemporaryDirectory(prefix="sk-bench-") as tmp:
        tmpdir = Path(tmp)
        ours_port, peer_port = free_port(), free_port()
        data_dir = tmpdir / "data"
        data_dir.mkdir()
        env = our_environment(data_dir, ours_port, args.log_level)
        subprocess.run([sys.executable, "-m", "servicekonto", "migrate"], env=env, check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=300)
        ours_cmd = [sys.executable, "-m", "servicekonto", "serve", "--host", HOST, "--port", str(ours_port)]
        with running(ours_cmd, env=env, log=tmpdir / "ours.log", pin=pin) as ours:
            wait_until_up(ours, ours_port, "/healthz", tmpdir / "ours.log")
            status, body, media_type = get(ours_port, "/jwks")
            if status != 200:
                cases[1].skipped = f"/jwks answers {status}"
                body, media_type = b'{"keys":[]}', "application/json"
            (tmpdir / "jwks.json").write_bytes(body)
            peer_cmd = [sys.executable, __file__, "--peer", str(peer_port), str(tmpdir / "jwks.json"),
                        media_type]
            with running(peer_cmd, env=dict(os.environ), log=tmpdir / "peer.log", pin=pin) as peer:
                wait_until_up(peer, peer_port, "/json", tmpdir / "peer.log")
                active = [case for case in cases if not case.skipped]
                for case in active:
                    measure(loadgen, ours_port, case.ours_path, WARMUP_SECONDS, pin)
                    measure(loadgen, peer_port, case.peer_path, WARMUP_SECONDS, pin)
                for round_no in range(1, args.runs + 1):
                    for case in active:
                        case.ours.append(measure(loadgen, ours_port, case.ours_path, args.seconds, pin))
                        case.peer.append(measure(loadgen, peer_port, case.peer_path, args.seconds, pin))
                        print(f"round {round_no}: {case.ours_path} {case.ours[-1]:,.0f} req/s, peer "
                              f"{case.peer_path} {case.peer[-1]:,.0f} req/s", flush=True)
    report(cases, loadgen=loadgen, pin=pin, runs=args.runs, seconds=args.seconds, log_level=args.log_level)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="measured runs per cell (default 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one run (default 5)")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="our server's log level; INFO (the default) writes the access log")
    parser.add_argument("--peer", nargs=3, metavar=("PORT", "BODY_FILE", "MEDIA_TYPE"), help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=2, metavar=("PORT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.runs <= 20 or not 0.5 <= args.seconds <= 60:
        parser.error("--runs must be 1..20 and --seconds 0.5..60 (the benchmark stays bounded)")
    if args.peer:
        serve_peer(int(args.peer[0]), Path(args.peer[1]), args.peer[2])
    elif args.load:
        python_load_main(int(args.load[0]), args.load[1], args.seconds, CONNECTIONS)
    else:
        run(args)


if __name__ == "__main__":
    main()
