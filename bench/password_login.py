"""Full password logins per second on one core, next to bare Argon2id verifications per second, in one run.

A login is what a browser does: GET /anmelden (the form: flow id in the action, CSRF token bound to the
sk_browser cookie), POST /anmelden?flow=… with identifier, password and csrf_token (303 to /konto with
the sk_session cookie), then GET /konto (200, the account page). Each virtual user keeps its own cookie
jar and keep-alive connection; it keeps its sk_browser cookie and drops sk_session before the next login
(a returning browser, a new login each time), cycling through pre-created active accounts.

The peer is the floor that no login can beat: argon2-cffi's PasswordHasher with our parameters
(services/passwords.py) verifying one hash in a loop. Both run pinned to CPU 0 (`servicekonto serve`
and the verification loop, taking turns), the load generator runs on CPU 1. Runs are interleaved
(verify, login, verify, login …); the table gives the medians, and the ratio of the best login round to
the best verification round (goal ≥ 0.8): another process on the core can only slow a round down, never
speed it up, so the best round of each is the least disturbed measurement of it. It is a report, not a
gate: the exit code is 0 unless the benchmark itself breaks.

Stacks: SQLite without Redis (the default of a test system) and PostgreSQL + Redis when both answer
(a fresh database created and dropped here, a random Redis key prefix deleted afterwards).

Usage: python bench/password_login.py [--runs 5] [--seconds 6] [--users 12] [--stack auto|sqlite|postgres|all]
       [--profile [--argon2-limit N]]   (where a login's CPU goes; see bench/README.md)
"""

from __future__ import annotations

import argparse
import contextlib
import html
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
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_shell import HOST, LOAD_CPU, SERVER_CPU, _pinned, free_port, our_environment, running, wait_until_up

PASSWORD = "Heidestr17Köln!"  # the tests' password: 15 characters with a non-ASCII one (NFKC is a no-op)
WARMUP_SECONDS = 2.0
GOAL = 0.8
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', re.S)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Stack:
    name: str
    skipped: str | None = None
    logins: list[float] = field(default_factory=list)  # logins/s per run
    verifies: list[float] = field(default_factory=list)  # verifications/s per run
    verify_cpu: list[float] = field(default_factory=list)  # CPU ms per verification, per run
    latencies: list[float] = field(default_factory=list)  # ms per login, all runs
    steps: dict[str, list[float]] = field(default_factory=dict)  # ms per request, all runs
    server_cpu: list[float] = field(default_factory=list)  # server CPU seconds per wall second, per run
    cpu_per_login: list[float] = field(default_factory=list)  # server CPU ms per login, per run
    profile: str | None = None
    note: str = ""


# ------------------------------------------------------------------------------------ the peer: bare Argon2id


def argon2_parameters() -> dict[str, int]:
    """Ours, read from the service, so the peer cannot drift from what the server does."""
    from servicekonto.services.passwords import Argon2Parameters

    p = Argon2Parameters()
    return {"time_cost": p.iterations, "memory_cost": p.memory_kib, "parallelism": p.parallelism,
            "hash_len": p.hash_length, "salt_len": p.salt_length}


def verify_loop_main(seconds: float) -> None:
    from argon2 import PasswordHasher, Type

    hasher = PasswordHasher(**argon2_parameters(), type=Type.ID)
    stored = hasher.hash(PASSWORD)
    hasher.verify(stored, PASSWORD)  # warm: the first call allocates
    count = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        hasher.verify(stored, PASSWORD)
        count += 1
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(json.dumps({"per_second": count / elapsed, "cpu_ms": cpu / count * 1e3, "count": count}))


def measure_verify(seconds: float, pin: bool) -> tuple[float, float]:
    """(verifications per second, CPU ms per verification)"""
    command = [sys.executable, __file__, "--verify-loop", "--seconds", str(seconds)]
    result = subprocess.run(_pinned(command, SERVER_CPU, pin), capture_output=True, text=True,
                            timeout=seconds + 60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"verification loop failed:\n{result.stderr.strip()[-3000:]}")
    data = json.loads(result.stdout)
    return float(data["per_second"]), float(data["cpu_ms"])


# ------------------------------------------------------------------------------------- the load generator


class Browser:
    """One virtual user: a keep-alive connection and a cookie jar."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.origin = f"http://{HOST}:{port}"
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, str, str]:
        headers = {"Host": f"{HOST}:{self.port}", "Accept": "text/html",
                   "Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        payload = None
        if body is not None:
            payload = urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.origin
        self.conn.request(method, path, body=payload, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        for raw in response.headers.get_all("set-cookie") or []:
            pair, _, attributes = raw.partition(";")
            name, _, value = pair.strip().partition("=")
            if "max-age=0" in attributes.lower().replace(" ", ""):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value.strip('"')
        return response.status, response.getheader("location", ""), text

    def reset(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        self.cookies.clear()


def login_once(browser: Browser, username: str, password: str, steps: dict[str, list[float]]) -> str | None:
    """One full login; None when it worked, else what went wrong."""
    browser.cookies.pop("sk_session", None)
    t0 = time.perf_counter()
    status, _, page = browser.request("GET", "/anmelden")
    t1 = time.perf_counter()
    if status != 200:
        return f"GET /anmelden: {status}"
    for action, body in FORM.findall(page):
        if action.startswith("/anmelden"):
            token = CSRF.search(body)
            break
    else:
        return "GET /anmelden: no login form"
    if token is None:
        return "GET /anmelden: no csrf_token"
    status, location, _ = browser.request("POST", html.unescape(action), {
        "identifier": username, "password": password, "csrf_token": token.group(1)})
    t2 = time.perf_counter()
    if status != 303 or "sk_session" not in browser.cookies:
        return f"POST /anmelden: {status} (location {location!r}, session cookie {'sk_session' in browser.cookies})"
    target = urlsplit(location)
    status, _, page = browser.request("GET", target.path + (f"?{target.query}" if target.query else ""))
    t3 = time.perf_counter()
    if status != 200 or username not in page:
        return f"GET {location}: {status}"
    steps["get_form"].append((t1 - t0) * 1e3)
    steps["post_credentials"].append((t2 - t1) * 1e3)
    steps["get_account"].append((t3 - t2) * 1e3)
    steps["login"].append((t3 - t0) * 1e3)
    return None


def drive_main(port: int, seconds: float, users: int, accounts_file: Path) -> None:
    accounts = json.loads(accounts_file.read_text())
    steps: dict[str, list[float]] = {k: [] for k in ("get_form", "post_credentials", "get_account", "login")}
    errors: list[str] = []
    lock = threading.Lock()
    started = time.perf_counter()
    deadline = started + seconds
    finished: list[float] = []

    def user(number: int) -> None:
        browser = Browser(port)
        mine: dict[str, list[float]] = {k: [] for k in steps}
        failures: list[str] = []
        turn = number
        while time.perf_counter() < deadline:
            username = accounts[turn % len(accounts)]
            turn += users
            try:
                problem = login_once(browser, username, PASSWORD, mine)
            except (OSError, http.client.HTTPException) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                failures.append(problem)
                browser.reset()
        browser.conn.close()
        with lock:
            for key, values in mine.items():
                steps[key].extend(values)
            errors.extend(failures)
            finished.append(time.perf_counter())

    threads = [threading.Thread(target=user, args=(n,)) for n in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = max(finished) - started
    print(json.dumps({"logins": len(steps["login"]), "per_second": len(steps["login"]) / elapsed,
                      "elapsed": elapsed, "errors": errors[:10], "error_count": len(errors), "steps": steps}))


@contextlib.contextmanager
def cpu_shares(cpu: int) -> Iterator[dict[str, float]]:
    """How `cpu` spent the block's wall time besides running work (/proc/stat): "stolen", given by the
    hypervisor to someone else (a round with much of it measured a slower machine), and "idle"."""
    def counters() -> list[int]:
        for line in Path("/proc/stat").read_text().splitlines():
            fields = line.split()
            if fields[0] == f"cpu{cpu}":
                return [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
        return [0] * 8

    shares = {"stolen": 0.0, "idle": 0.0}
    before = counters()
    try:
        yield shares
    finally:
        delta = [b - a for a, b in zip(before, counters(), strict=True)]
        total = max(1, sum(delta))
        shares.update(stolen=delta[7] / total, idle=(delta[3] + delta[4]) / total)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_logins(port: int, seconds: float, users: int, accounts_file: Path, pin: bool,
                   server_pid: int) -> tuple[dict, float]:
    command = [sys.executable, __file__, "--drive", str(port), str(accounts_file), "--seconds", str(seconds),
               "--users", str(users)]
    cpu_before, wall_before = cpu_seconds(server_pid), time.perf_counter()
    result = subprocess.run(_pinned(command, LOAD_CPU, pin), capture_output=True, text=True,
                            timeout=seconds + 120, check=False)
    cpu_used, wall = cpu_seconds(server_pid) - cpu_before, time.perf_counter() - wall_before
    if result.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{result.stderr.strip()[-3000:]}")
    data = json.loads(result.stdout)
    if data["error_count"]:
        raise RuntimeError(f"{data['error_count']} failed logins, e.g. {data['errors']}")
    # Per login: the server's CPU over the logins that ran (the server idles while the load generator
    # starts and exits, which the share `busy` of the whole window includes).
    data["cpu_ms_per_login"] = cpu_used / max(1, data["logins"]) * 1e3
    return data, cpu_used / wall


# ---------------------------------------------------------------------------------------- the stacks


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """Run with exactly these SERVICEKONTO_* variables (load_settings reads os.environ)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def create_accounts(env: dict[str, str], count: int) -> list[str]:
    """Active accounts straight through the repository (no registration pages, no mails)."""
    from servicekonto.app import build_container
    from servicekonto.core.ids import new_uuid
    from servicekonto.domain.accounts import Account, AccountStatus
    from servicekonto.services.passwords import PasswordHasher
    from servicekonto.settings import load_settings

    with environment(env):
        container = build_container(load_settings())
    try:
        hasher = PasswordHasher()
        now = container.clock.now()
        names = []
        for number in range(count):
            name = f"bench{number:04d}"
            container.account_repository.add(Account(
                id=str(new_uuid()),
                username=name, email=f"{name}@example.de", status=AccountStatus.ACTIVE,
                password_hash=hasher.hash(PASSWORD), locale="de", session_epoch=0, created_at=now,
                email_verified_at=now))
            names.append(name)
        return names
    finally:
        container.close()


def postgres_reachable(admin_url: str, redis_url: str) -> str | None:
    """None when both answer, else why not."""
    try:
        import psycopg

        with psycopg.connect(admin_url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means: skip this stack
        return f"PostgreSQL at {urlsplit(admin_url).netloc} does not answer ({type(exc).__name__})"
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        return f"Redis at {urlsplit(redis_url).netloc} does not answer ({type(exc).__name__})"
    return None


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database, dropped afterwards; yields its SQLAlchemy URL."""
    import psycopg

    name = f"sk_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin_url)
    try:
        yield f"postgresql+psycopg://{parts.netloc}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _children_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _threads_of(pid: int) -> list[int]:
    try:
        return [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return []


def data_service_pids(admin_url: str, redis_url: str) -> dict[str, list[int]]:
    """The local PostgreSQL (postmaster and its processes) and Redis (every thread), found through their own
    answers: a backend's parent is the postmaster; Redis names its process id. Empty where not local."""
    import psycopg
    import redis

    found: dict[str, list[int]] = {}
    with psycopg.connect(admin_url) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    backend = int(row[0]) if row else 0
    try:
        postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
        found["PostgreSQL"] = [postmaster, *_children_of(postmaster)]
    except (OSError, ValueError, IndexError):
        pass
    redis_pid = int(redis.Redis.from_url(redis_url).info("server").get("process_id", 0))
    if redis_pid and Path(f"/proc/{redis_pid}").exists():
        found["Redis"] = _threads_of(redis_pid)
    return found


@contextlib.contextmanager
def data_services_off_server_cpu(admin_url: str, redis_url: str, pin: bool) -> Iterator[str]:
    """PostgreSQL and Redis on the load generator's CPU for the run, so the server's CPU holds the server
    alone (as a deployment has its database on other cores or hosts). New PostgreSQL backends inherit the
    postmaster's mask. Every mask is put back afterwards. Yields a note on what was done."""
    if not pin:
        yield "PostgreSQL and Redis not pinned"
        return
    changed: dict[int, set[int]] = {}
    services = data_service_pids(admin_url, redis_url)
    try:
        for pids in services.values():
            for pid in pids:
                with contextlib.suppress(OSError):
                    before = os.sched_getaffinity(pid)
                    os.sched_setaffinity(pid, {LOAD_CPU})
                    changed[pid] = before
        names = [name for name, pids in services.items() if any(pid in changed for pid in pids)]
        missing = sorted({"PostgreSQL", "Redis"} - set(names))
        yield (f"{' and '.join(names)} on CPU {LOAD_CPU}" if names else "") + (
            f"{'; ' if names else ''}{' and '.join(missing)} not pinned (not local, or not allowed)" if missing else "")
    finally:
        postmaster_mask = None
        for name, pids in services.items():
            if name == "PostgreSQL" and pids and pids[0] in changed:
                postmaster_mask = changed[pids[0]]
        if postmaster_mask is not None:  # backends forked meanwhile took the temporary mask
            for pid in _children_of(services["PostgreSQL"][0]):
                changed.setdefault(pid, postmaster_mask)
        for pid, mask in changed.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, mask)


@contextlib.contextmanager
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A random key prefix; every key under it is deleted afterwards."""
    import redis

    prefix = f"bench-{secrets.token_hex(4)}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])


def bench_stack(stack: Stack, args: argparse.Namespace, pin: bool, extra_env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="sk-bench-login-") as tmp:
        tmpdir = Path(tmp)
        data_dir = tmpdir / "data"
        data_dir.mkdir()
        port = free_port()
        env = {**our_environment(data_dir, port, args.log_level), **extra_env}
        subprocess.run([sys.executable, "-m", "servicekonto", "migrate"], env=env, check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=300)
        accounts_file = tmpdir / "accounts.json"
        accounts_file.write_text(json.dumps(create_accounts(env, args.accounts)))
        command = [sys.executable, "-m", "servicekonto", "serve", "--host", HOST, "--port", str(port)]
        log = tmpdir / "server.log"
        with running(command, env=env, log=log, pin=pin) as server:
            wait_until_up(server, port, "/healthz", log)
            measure_logins(port, WARMUP_SECONDS, args.users, accounts_file, pin, server.pid)
            for round_no in range(1, args.runs + 1):
                with cpu_shares(SERVER_CPU) as verify_cpu:
                    rate, cpu_ms = measure_verify(args.seconds, pin)
                stack.verifies.append(rate)
                stack.verify_cpu.append(cpu_ms)
                with cpu_shares(SERVER_CPU) as login_cpu:
                    data, busy = measure_logins(port, args.seconds, args.users, accounts_file, pin, server.pid)
                stack.logins.append(data["per_second"])
                stack.server_cpu.append(busy)
                stack.cpu_per_login.append(data["cpu_ms_per_login"])
                stack.latencies.extend(data["steps"]["login"])
                for key, values in data["steps"].items():
                    stack.steps.setdefault(key, []).extend(values)
                print(f"{stack.name} round {round_no}: {stack.verifies[-1]:.1f} verifications/s (CPU {SERVER_CPU} "
                      f"stolen {verify_cpu['stolen']:.0%}), {stack.logins[-1]:.1f} logins/s (server CPU {busy:.0%}; "
                      f"CPU {SERVER_CPU} stolen {login_cpu['stolen']:.0%}, idle {login_cpu['idle']:.0%})", flush=True)
        if args.profile:
            stack.profile = profile_logins(args, pin, env, port, accounts_file, tmpdir)


# ------------------------------------------------------------------------------------ the profile (optional)


def profile_logins(args: argparse.Namespace, pin: bool, env: dict[str, str], port: int, accounts_file: Path,
                   tmpdir: Path) -> str:
    """The same server once more, with stopwatches on the synchronous steps (bench/_profile_login.py), one
    warm-up and one login run: thread CPU per step and login under the real concurrency."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _profile_login import server_profile_rows

    report_file = tmpdir / "profile.json"
    log = tmpdir / "profiled-server.log"
    command = [sys.executable, str(Path(__file__).with_name("_profile_login.py")), "--serve", str(port),
               str(report_file)]
    if args.argon2_limit:
        env = {**env, "SK_PROFILE_ARGON2_LIMIT": str(args.argon2_limit)}
    with running(command, env=env, log=log, pin=pin) as server:
        wait_until_up(server, port, "/healthz", log)
        measure_logins(port, WARMUP_SECONDS, args.users, accounts_file, pin, server.pid)
        server.send_signal(signal.SIGUSR1)  # count from here
        time.sleep(0.2)
        data, busy = measure_logins(port, args.seconds, args.users, accounts_file, pin, server.pid)
    if not report_file.exists():
        return f"profile failed:\n{log.read_text()[-2000:]}"
    report = json.loads(report_file.read_text())
    logins = int(report["calls"].get("auth: authenticate", 0))
    if not logins:
        return "profile failed: no login was counted"
    limit = f", at most {args.argon2_limit} Argon2 verification(s) at a time" if args.argon2_limit else ""
    head = (f"{data['per_second']:.1f} logins/s with stopwatches{limit} (server CPU {busy:.0%}, "
            f"{data['cpu_ms_per_login']:.1f} ms/login); {data['logins']} logins, {logins} counted")
    return "\n".join([head, "", *server_profile_rows(report, logins)])


# --------------------------------------------------------------------------------------------- the report


def best_ratio(stack: Stack) -> float:
    """Logins/s over verifications/s, each its best round: interference only ever lowers a round."""
    return max(stack.logins) / max(stack.verifies)


def fmt(values: list[float]) -> str:
    if not values:
        return "–"
    return f"{statistics.median(values):,.1f} ({min(values):,.1f}–{max(values):,.1f})"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(stacks: list[Stack], args: argparse.Namespace, pin: bool) -> None:
    p = argon2_parameters()
    where = (f"server and verification loop on CPU {SERVER_CPU}, load on CPU {LOAD_CPU}" if pin
             else "not pinned (taskset missing or fewer than 2 CPUs)")
    print()
    print(f"Password login vs bare Argon2id verify (m={p['memory_cost']} KiB, t={p['time_cost']}, "
          f"p={p['parallelism']}, {p['hash_len']}-byte hash)")
    print(f"{where}; {args.users} virtual users, {args.accounts} accounts; {args.runs} × {args.seconds:g} s "
          f"per cell, interleaved; server log level {args.log_level}")
    print("login = GET /anmelden + POST /anmelden (303) + GET /konto (200); per second: median (min–max); "
          "ratio = best login round / best verification round")
    print()
    print("| stack | logins/s | verifications/s | ratio | p50 login ms | p90 login ms | server CPU busy | "
          "server CPU ms/login | verify CPU ms | CPU ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for stack in stacks:
        if stack.skipped:
            print(f"| {stack.name} | skipped: {stack.skipped} | | | | | | | | |")
            continue
        ratio = best_ratio(stack)
        cpu_ratio = statistics.median(stack.verify_cpu) / statistics.median(stack.cpu_per_login)
        print(f"| {stack.name} | {fmt(stack.logins)} | {fmt(stack.verifies)} | {ratio:.2f} | "
              f"{statistics.median(stack.latencies):.0f} | {percentile(stack.latencies, 0.9):.0f} | "
              f"{statistics.median(stack.server_cpu):.0%} | {statistics.median(stack.cpu_per_login):.1f} | "
              f"{statistics.median(stack.verify_cpu):.1f} | {cpu_ratio:.2f} |")
    measured = [s for s in stacks if not s.skipped]
    if measured:
        print()
        print("p50 ms per request (under load, includes queueing): "
              + "; ".join(f"{s.name}: form {statistics.median(s.steps['get_form']):.0f}, "
                          f"credentials {statistics.median(s.steps['post_credentials']):.0f}, "
                          f"account page {statistics.median(s.steps['get_account']):.0f}" for s in measured))
        print(f"bare verify: {1e3 / statistics.median(measured[0].verifies):.1f} ms on one core (wall)")
        for stack in measured:
            if stack.note:
                print(f"{stack.name}: {stack.note}")
        print("server CPU busy = the server's CPU seconds per wall second during a run (below 100 %: it waited "
              "— on locks, I/O, or for CPU 0 taken by other processes); CPU ratio = verify CPU ms / server CPU "
              "ms per login, the ratio a fully busy core would reach, less sensitive to a shared machine")
        print()
        for stack in measured:
            ratio = best_ratio(stack)
            print(f"goal ≥ {GOAL}: {'met' if ratio >= GOAL else 'not met'} ({stack.name}, ratio {ratio:.2f})")
        for stack in measured:
            if stack.profile:
                print(f"\nProfile of the server, {stack.name}:\n{stack.profile}")


def run(args: argparse.Namespace) -> None:
    pin = bool(shutil.which("taskset")) and len(os.sched_getaffinity(0)) >= 2
    stacks: list[Stack] = []
    if args.stack in ("auto", "all", "sqlite"):
        stack = Stack("SQLite, no Redis")
        stacks.append(stack)
        bench_stack(stack, args, pin, {})
    if args.stack in ("auto", "all", "postgres"):
        stack = Stack("PostgreSQL + Redis")
        stacks.append(stack)
        reason = postgres_reachable(args.postgres_admin_url, args.redis_url)
        if reason and args.stack == "auto":
            stack.skipped = reason
        elif reason:
            sys.exit(reason)
        else:
            with (postgres_database(args.postgres_admin_url) as url, redis_prefix(args.redis_url) as prefix,
                  data_services_off_server_cpu(args.postgres_admin_url, args.redis_url, pin) as note):
                stack.note = note
                bench_stack(stack, args, pin, {"SERVICEKONTO_DATABASE_URL": url,
                                               "SERVICEKONTO_REDIS_URL": args.redis_url,
                                               "SERVICEKONTO_REDIS_PREFIX": prefix})
    report(stacks, args, pin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="measured runs per cell (default 5)")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of one run (default 6)")
    parser.add_argument("--users", type=int, default=12, help="concurrent virtual users (default 12)")
    parser.add_argument("--accounts", type=int, default=48, help="accounts the users cycle through (default 48)")
    parser.add_argument("--stack", choices=["auto", "all", "sqlite", "postgres"], default="auto",
                        help="auto: SQLite, and PostgreSQL + Redis when both answer; all: both or fail")
    parser.add_argument("--postgres-admin-url", default=DEFAULT_ADMIN_URL,
                        help="libpq URL allowed to CREATE/DROP DATABASE (default %(default)s)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="default %(default)s")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="our server's log level; INFO (the default) writes the access log")
    parser.add_argument("--profile", action="store_true", help="after the runs, one more login run per stack "
                        "against the server with stopwatches on each step (bench/_profile_login.py)")
    parser.add_argument("--argon2-limit", type=int, default=0, metavar="N",
                        help="experiment, with --profile: the profiled server lets at most N Argon2 "
                        "verifications run at a time (a semaphore around argon2-cffi)")
    parser.add_argument("--verify-loop", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--drive", nargs=2, metavar=("PORT", "ACCOUNTS_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.runs <= 20 or not 0.5 <= args.seconds <= 60 or not 1 <= args.users <= 64:
        parser.error("--runs 1..20, --seconds 0.5..60, --users 1..64 (the benchmark stays bounded)")
    if not 1 <= args.accounts <= 1000:
        parser.error("--accounts 1..1000")
    if args.verify_loop:
        verify_loop_main(args.seconds)
    elif args.drive:
        drive_main(int(args.drive[0]), args.seconds, args.users, Path(args.drive[1]))
    else:
        run(args)


if __name__ == "__main__":
    main()
