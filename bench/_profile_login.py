"""Where the CPU of one password login goes, in-process and deterministic (a helper; `make bench` skips it).

The app is built as `servicekonto serve` builds it (same settings, JSON log at INFO into a file), but driven
without a server: plain ASGI calls on one thread, the form pages' thread-pool hop replaced by a direct call,
so every step of a login runs on this thread and `time.thread_time()` and cProfile see all of it. The
difference to bench/password_login.py's "server CPU ms/login" is then uvicorn, httptools and the hop.

A login is the same three requests: GET /anmelden, POST /anmelden?flow=… (303), GET /konto (200).

    1. CPU ms per request and per login, nothing attached (median of the logins)
    2. stopwatches around the steps of a login (thread CPU, inclusive, ≈1 µs overhead a call): µs per login
    3. cProfile with thread CPU time as its clock: self time by package and the costliest functions, scaled
       back by the profiler's overhead on everything but Argon2 (CPU with profiler / CPU without), so ≈

Usage: taskset -c 0 python bench/_profile_login.py [--logins 300] [--stack sqlite|postgres] [--dump FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_shell import our_environment
from password_login import (
    CSRF,
    DEFAULT_ADMIN_URL,
    DEFAULT_REDIS_URL,
    FORM,
    PASSWORD,
    create_accounts,
    environment,
    postgres_database,
    redis_prefix,
)

PORT = 8000
ORIGIN = f"http://127.0.0.1:{PORT}"

# What one login spends where: (module, class or None, attribute, label). Each is wrapped with a thread-CPU
# stopwatch (inclusive; a nested call of the same label counts once). Overhead ≈ 1 µs per call.
INSTRUMENTED = [
    ("servicekonto.web.request_context", "RequestContextMiddleware", "__call__", "http: whole request (3)"),
    ("starlette.middleware.exceptions", "ExceptionMiddleware", "__call__", "http: app inside our middleware"),
    ("servicekonto.web.request_context", None, "choose_locale", "http: choose_locale"),
    ("servicekonto.web.metrics", "Metrics", "observe", "http: Metrics.observe"),
    ("starlette.requests", "Request", "_get_form", "form: request.form() parse"),
    ("servicekonto.web.forms", None, "_run", "form: handler incl. CSRF check"),
    ("servicekonto.web.forms", None, "check_csrf", "form: check_csrf"),
    ("servicekonto.web.forms", None, "finish", "form: finish (browser cookie)"),
    ("servicekonto.web.templating", "Templates", "render", "page: Templates.render (3 pages)"),
    ("jinja2.environment", "Environment", "get_template", "page: jinja get_template (auto_reload stat)"),
    ("jinja2.environment", "Template", "render", "page: jinja Template.render"),
    ("servicekonto.web.forms", None, "csrf_token", "page: csrf_token (HMAC)"),
    ("servicekonto.services.authentication", "PasswordAuthenticator", "authenticate", "auth: authenticate"),
    ("servicekonto.services.passwords", "PasswordHasher", "verify", "auth: PasswordHasher.verify (ours)"),
    ("argon2.low_level", None, "verify_secret", "auth: argon2 verify_secret (C, GIL released)"),
    ("argon2._password_hasher", "PasswordHasher", "check_needs_rehash", "auth: check_needs_rehash"),
    ("servicekonto.services.passwords", None, "normalise", "auth: NFKC normalise"),
    ("servicekonto.persistence.accounts", "SqlAccountRepository", "find_by_login", "repo: find_by_login"),
    ("servicekonto.persistence.accounts", "SqlAccountRepository", "find_for_login", "repo: find_for_login"),
    ("servicekonto.persistence.accounts", "SqlAccountRepository", "get", "repo: accounts.get"),
    ("servicekonto.persistence.accounts", "SqlAccountRepository", "session_epoch", "repo: session_epoch"),
    ("servicekonto.persistence.accounts", "SqlAccountRepository", "attributes", "repo: attributes"),
    ("servicekonto.persistence.audit", "SqlAuditLog", "record", "repo: audit insert"),
    ("servicekonto.persistence.audit", "SqlAuditLog", "for_account", "repo: audit for_account"),
    ("servicekonto.services.throttle", "LoginThrottle", "check", "svc: throttle.check (2 TTL reads)"),
    ("servicekonto.services.throttle", "LoginThrottle", "succeeded", "svc: throttle.succeeded (delete)"),
    ("servicekonto.services.flows", "FlowStore", "start", "svc: flows.start (put)"),
    ("servicekonto.services.flows", "FlowStore", "load", "svc: flows.load (get)"),
    ("servicekonto.services.flows", "FlowStore", "finish", "svc: flows.finish (delete)"),
    ("servicekonto.services.sessions", "SessionService", "create", "svc: sessions.create"),
    ("servicekonto.services.sessions", "SessionService", "load", "svc: sessions.load (get + epoch)"),
    ("servicekonto.services.audit", "Auditor", "record", "svc: auditor.record"),
    ("servicekonto.services.accounts", "AccountService", "overview", "svc: accounts.overview"),
    ("servicekonto.persistence.ephemeral", "DatabaseEphemeralStore", "put", "store: put"),
    ("servicekonto.persistence.ephemeral", "DatabaseEphemeralStore", "get", "store: get"),
    ("servicekonto.persistence.ephemeral", "DatabaseEphemeralStore", "delete", "store: delete"),
    ("servicekonto.persistence.ephemeral", "DatabaseEphemeralStore", "ttl", "store: ttl"),
    ("servicekonto.persistence.ephemeral", "RedisEphemeralStore", "put", "store: put"),
    ("servicekonto.persistence.ephemeral", "RedisEphemeralStore", "get", "store: get"),
    ("servicekonto.persistence.ephemeral", "RedisEphemeralStore", "delete", "store: delete"),
    ("servicekonto.persistence.ephemeral", "RedisEphemeralStore", "ttl", "store: ttl"),
    ("servicekonto.persistence.ephemeral", "DatabaseEphemeralStore", "get_many", "store: get_many"),
    ("servicekonto.persistence.ephemeral", "DatabaseEphemeralStore", "add_member", "store: add_member"),
    ("servicekonto.persistence.ephemeral", "RedisEphemeralStore", "get_many", "store: get_many"),
    ("servicekonto.persistence.ephemeral", "RedisEphemeralStore", "add_member", "store: add_member"),
    ("servicekonto.persistence.ephemeral", "DatabaseEphemeralStore", "put_with_member", "store: put_with_member"),
    ("servicekonto.persistence.ephemeral", "RedisEphemeralStore", "put_with_member", "store: put_with_member"),
    ("servicekonto.persistence.accounts", "SqlAccountRepository", "second_steps", "repo: second_steps (passkey, app)"),
    ("servicekonto.services.privacy", "PrivacyService", "login_from", "svc: privacy.login_from"),
    ("servicekonto.persistence.privacy", "SqlAccountData", "device_seen", "repo: device_seen"),
    ("redis.client", "Redis", "execute_command", "driver: redis-py command"),
    ("redis.client", "Pipeline", "execute", "driver: redis-py pipeline"),
    ("sqlalchemy.orm.session", "Session", "execute", "sqla: Session.execute"),
    ("sqlalchemy.orm.session", "Session", "scalar", "sqla: Session.scalar"),
    ("sqlalchemy.orm.session", "Session", "commit", "sqla: Session.commit"),
    ("sqlalchemy.orm.session", "Session", "close", "sqla: Session.close (rollback, pool return)"),
    ("sqlalchemy.engine.base", "Connection", "exec_driver_sql", "sqla: BEGIN IMMEDIATE (SQLite)"),
    ("sqlalchemy.engine.default", "DefaultDialect", "do_execute", "driver: cursor.execute"),
    ("sqlalchemy.engine.default", "DefaultDialect", "do_commit", "driver: commit (SQLite: WAL fsync)"),
    ("sqlalchemy.engine.default", "DefaultDialect", "do_rollback", "driver: rollback (pool reset)"),
]


class Stopwatch:
    """Thread-CPU time per label, inclusive, outermost call of a label only; one table per thread (a server
    runs handlers on many threads). With `sync_only`, coroutines are left alone: on an event loop their
    span would include other requests' work."""

    def __init__(self, *, sync_only: bool = False) -> None:
        self.sync_only = sync_only
        self.enabled = False
        self.patched: list[tuple[object, str, object]] = []
        self._local = threading.local()
        self._tables: list[tuple[dict[str, float], dict[str, int], dict[str, int]]] = []
        self._lock = threading.Lock()

    def _table(self) -> tuple[dict[str, float], dict[str, int], dict[str, int]]:
        table = getattr(self._local, "table", None)
        if table is None:
            table = ({}, {}, {})
            self._local.table = table
            with self._lock:
                self._tables.append(table)
        return table

    def reset(self) -> None:
        for table in list(self._tables):
            for part in table:
                part.clear()

    @property
    def cpu(self) -> dict[str, float]:
        merged: dict[str, float] = {}
        for cpu, _, _ in list(self._tables):
            for label, value in cpu.items():
                merged[label] = merged.get(label, 0.0) + value
        return merged

    def thread_cpu(self) -> dict[str, float]:
        """The calling thread's table alone."""
        return dict(self._table()[0])

    @property
    def calls(self) -> dict[str, int]:
        merged: dict[str, int] = {}
        for _, calls, _ in list(self._tables):
            for label, value in calls.items():
                merged[label] = merged.get(label, 0) + value
        return merged

    def wrap(self, func, label: str):  # type: ignore[no-untyped-def]
        import functools
        import inspect

        watch = self

        def enter() -> float | bool | None:
            if not watch.enabled:
                return False  # not counted, not nested
            depth = watch._table()[2]
            level = depth.get(label, 0)
            depth[label] = level + 1
            return time.thread_time() if level == 0 else None

        def leave(started: float | bool | None) -> None:
            if started is False:
                return
            cpu, calls, depth = watch._table()
            depth[label] = max(0, depth.get(label, 1) - 1)
            if isinstance(started, float):
                cpu[label] = cpu.get(label, 0.0) + time.thread_time() - started
                calls[label] = calls.get(label, 0) + 1

        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
                started = enter()
                try:
                    return await func(*args, **kwargs)
                finally:
                    leave(started)
            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            started = enter()
            try:
                return func(*args, **kwargs)
            finally:
                leave(started)
        return wrapper

    def uninstall(self) -> None:
        for owner, attribute, original in reversed(self.patched):
            setattr(owner, attribute, original)
        self.patched.clear()

    def install(self) -> list[str]:
        import importlib
        import inspect

        missing = []
        for module_name, owner_name, attribute, label in INSTRUMENTED:
            module = importlib.import_module(module_name)
            owner = getattr(module, owner_name) if owner_name else module
            original = owner.__dict__.get(attribute) if owner_name else getattr(module, attribute, None)
            if original is None or isinstance(original, (staticmethod, classmethod)):
                missing.append(label)
                continue
            if self.sync_only and inspect.iscoroutinefunction(original):
                continue
            wrapped = self.wrap(original, label)
            targets = [owner]
            if owner_name is None:  # also where other modules imported the function by name
                targets += [other for other in list(sys.modules.values())
                            if other is not module and getattr(other, attribute, None) is original]
            for target in targets:
                self.patched.append((target, attribute, original))
                setattr(target, attribute, wrapped)
        return missing


class Browser:
    """ASGI calls with a cookie jar, on the caller's thread."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.cookies: dict[str, str] = {}

    async def request(self, method: str, target: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        path, _, query = target.partition("?")
        body = urlencode(form).encode() if form is not None else b""
        headers = [(b"host", f"127.0.0.1:{PORT}".encode()), (b"accept", b"text/html"),
                   (b"accept-language", b"de-DE,de;q=0.9,en;q=0.5")]
        if self.cookies:
            headers.append((b"cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()).encode()))
        if form is not None:
            headers += [(b"content-type", b"application/x-www-form-urlencoded"),
                        (b"content-length", str(len(body)).encode()), (b"origin", ORIGIN.encode())]
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
                 "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": query.encode(), "root_path": "", "headers": headers,
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", PORT), "state": {}}
        sent = False
        status = 0
        location = ""
        chunks: list[bytes] = []

        async def receive() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            nonlocal status, location
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message["headers"]:
                    if name.lower() == b"location":
                        location = value.decode()
                    elif name.lower() == b"set-cookie":
                        pair, _, attributes = value.decode().partition(";")
                        key, _, val = pair.strip().partition("=")
                        if "max-age=0" in attributes.lower().replace(" ", ""):
                            self.cookies.pop(key, None)
                        else:
                            self.cookies[key] = val.strip('"')
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, location, b"".join(chunks).decode()


async def login(browser: Browser, username: str, times: dict[str, list[float]] | None) -> None:
    browser.cookies.pop("sk_session", None)
    t0 = time.thread_time()
    status, _, page = await browser.request("GET", "/anmelden")
    t1 = time.thread_time()
    assert status == 200, status
    action, token = next((a, CSRF.search(b)) for a, b in FORM.findall(page) if a.startswith("/anmelden"))
    assert token is not None
    status, location, _ = await browser.request("POST", action.replace("&amp;", "&"), {
        "identifier": username, "password": PASSWORD, "csrf_token": token.group(1)})
    t2 = time.thread_time()
    assert status == 303 and "sk_session" in browser.cookies, status
    status, _, page = await browser.request("GET", urlsplit(location).path)
    t3 = time.thread_time()
    assert status == 200 and username in page, status
    if times is not None:
        for key, value in (("GET /anmelden", t1 - t0), ("POST /anmelden", t2 - t1), ("GET /konto", t3 - t2),
                           ("login", t3 - t0)):
            times[key].append(value * 1e3)


@contextlib.contextmanager
def stack_environment(stack: str, data_dir: Path, args: argparse.Namespace) -> Iterator[dict[str, str]]:
    env = our_environment(data_dir, PORT, "INFO")
    if stack == "sqlite":
        yield env
        return
    with postgres_database(args.postgres_admin_url) as url, redis_prefix(args.redis_url) as prefix:
        yield {**env, "SERVICEKONTO_DATABASE_URL": url, "SERVICEKONTO_REDIS_URL": args.redis_url,
               "SERVICEKONTO_REDIS_PREFIX": prefix}


def build_app(env: dict[str, str], log_file: Path):  # type: ignore[no-untyped-def]
    import servicekonto.web.forms as forms
    from servicekonto.app import create_app
    from servicekonto.core.logging import configure_logging
    from servicekonto.settings import load_settings

    async def inline(func, *args):  # type: ignore[no-untyped-def]
        return func(*args)

    forms.run_in_threadpool = inline  # every step on this thread, so thread_time and cProfile see it all
    with environment(env):
        settings = load_settings()
        saved = sys.stderr
        sys.stderr = log_file.open("a")  # the JSON log, as the server writes it, into a file
        try:
            configure_logging(settings.log_level, settings.log_format)
        finally:
            sys.stderr = saved
        return create_app(settings)


def instrumented_rows(watch: Stopwatch, logins: int) -> list[str]:
    lines = ["| µs CPU/login (inclusive) | calls/login | where |", "|---:|---:|---|"]
    seen = set()
    for _module, _owner, _attribute, label in INSTRUMENTED:
        if label in seen or label not in watch.cpu:
            continue
        seen.add(label)
        lines.append(f"| {watch.cpu[label] / logins * 1e6:,.0f} | {watch.calls[label] / logins:.1f} | {label} |")
    return lines


def profile_rows(stats: pstats.Stats, logins: int, scale: float, top: int) -> list[str]:
    raw = stats.stats  # type: ignore[attr-defined]
    per_login = 1e6 / logins * scale
    lines = ["| ≈µs CPU/login (self, scaled) | calls/login | function |", "|---:|---:|---|"]
    ranked = sorted(raw.items(), key=lambda item: -item[1][2])
    for (file, line, func), value in ranked[:top]:
        short = re.sub(r"^.*?(site-packages/|/src/|/lib/python3\.\d+/)", "", file)
        factor = 1e6 / logins if "argon2_verify" in func else per_login  # C code: the profiler adds nothing
        lines.append(f"| {value[2] * factor:,.0f} | {value[0] / logins:.1f} | {func} ({short}:{line}) |")
    return lines


def by_package(stats: pstats.Stats, logins: int, scale: float) -> list[str]:
    """Self time grouped by where the code lives: which layer the CPU goes to."""
    groups: dict[str, float] = {}
    for (file, _line, func), value in stats.stats.items():  # type: ignore[attr-defined]
        if "argon2" in func or file.endswith("argon2/low_level.py"):
            group = "argon2 (C)"
        elif "sqlite3" in func or "psycopg" in file or "psycopg" in func:
            group = "DB driver (sqlite3 / psycopg, C + Python)"
        else:
            match = re.search(r"site-packages/([a-zA-Z_0-9]+)", file)
            if match:
                group = match.group(1)
            elif "/servicekonto/web/templates/" in file:
                group = "jinja2 (compiled templates)"
            elif "/servicekonto/" in file:
                group = "servicekonto"
            elif file == "~":
                group = "builtins (C calls from Python)"
            else:
                group = "stdlib"
        groups[group] = groups.get(group, 0.0) + value[2]
    lines = ["| ≈µs CPU/login (self, scaled) | package |", "|---:|---|"]
    for group, total in sorted(groups.items(), key=lambda item: -item[1]):
        factor = 1.0 if group == "argon2 (C)" else scale
        lines.append(f"| {total / logins * 1e6 * factor:,.0f} | {group} |")
    return lines


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="sk-profile-login-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        with stack_environment(args.stack, data_dir, args) as env:
            subprocess.run([sys.executable, "-m", "servicekonto", "migrate"], env=env, check=True,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=300)
            names = create_accounts(env, 48)
            app = build_app(env, Path(tmp) / "server.log")
            browser = Browser(app)
            turn = 0

            async def logins(times: dict[str, list[float]] | None) -> None:
                nonlocal turn
                for _ in range(args.logins):
                    await login(browser, names[turn % len(names)], times)
                    turn += 1

            for _ in range(20):  # warm: templates compiled, statement caches filled
                await login(browser, names[turn % len(names)], None)
                turn += 1
            plain: dict[str, list[float]] = {k: [] for k in ("GET /anmelden", "POST /anmelden", "GET /konto",
                                                            "login")}
            await logins(plain)  # 1. no instrumentation
            watch = Stopwatch()
            missing = watch.install()
            watch.enabled = True
            instrumented: dict[str, list[float]] = {k: [] for k in plain}
            await logins(instrumented)  # 2. stopwatches
            watch.enabled = False
            watch.uninstall()
            profiler = cProfile.Profile(time.thread_time)  # CPU, not wall: the machine may be shared
            started = time.thread_time()
            profiler.enable()
            await logins(None)  # 3. cProfile
            profiler.disable()
            profiled_total = time.thread_time() - started
    stats = pstats.Stats(profiler, stream=io.StringIO())
    label = "auth: argon2 verify_secret (C, GIL released)"
    argon2 = watch.cpu.get(label, 0.0)
    # The hasher runs Argon2 on threads of its own (services/passwords.py): only what ran on this thread is
    # in the login times and in the profile.
    argon2_here = watch.thread_cpu().get(label, 0.0)
    plain_total = sum(plain["login"]) / 1e3
    argon2_profiled = sum(v[2] for k, v in stats.stats.items()  # type: ignore[attr-defined]
                          if "argon2_verify" in k[2])
    # The profiler slows Python down, not Argon2's C code: scale only the rest.
    scale = (plain_total - argon2_here) / (profiled_total - argon2_profiled)
    n = args.logins
    print(f"\nIn-process login CPU ({args.stack}), {n} sequential logins per phase on one thread; "
          f"thread CPU ms, median (p10–p90):\n")
    print("| step | no instrumentation | with stopwatches |")
    print("|---|---:|---:|")
    for key, values in plain.items():
        ordered = sorted(values)
        print(f"| {key} | {statistics.median(values):.2f} ({ordered[len(ordered) // 10]:.2f}–"
              f"{ordered[len(ordered) * 9 // 10]:.2f}) | {statistics.median(instrumented[key]):.2f} |")
    print(f"\nArgon2 verify_secret {argon2 / n * 1e3:.2f} ms/login; everything else "
          f"{(plain_total - argon2_here) / n * 1e3:.2f} ms/login (means). The server adds uvicorn/httptools and the "
          "thread-pool hop on top (compare bench/password_login.py's server CPU ms/login).\n")
    print("Stopwatches (thread CPU, inclusive; nested rows are contained in the rows above them):\n")
    print("\n".join(instrumented_rows(watch, n)))
    if missing:
        print(f"\n(not instrumented: {', '.join(missing)})")
    print(f"\ncProfile (thread CPU clock; its overhead on Python code is ×{1 / scale:.1f}, the figures are scaled "
          f"back by ×{scale:.2f}, so treat them as ≈):\n")
    print("\n".join(by_package(stats, n, scale)))
    print()
    print("\n".join(profile_rows(stats, n, scale, args.top)))
    if args.dump:
        stats.dump_stats(args.dump)
        print(f"\npstats written to {args.dump}")


def serve_main(port: int, report: Path) -> None:
    """`servicekonto serve` with stopwatches on the synchronous steps (bench/password_login.py --profile):
    the real server, thread pool and concurrency; the totals go to `report` as JSON at shutdown."""
    import uvicorn

    import servicekonto.app  # noqa: F401 - every module loaded, so the stopwatches find what they wrap
    from servicekonto.core.logging import configure_logging
    from servicekonto.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    limit = int(os.environ.get("SK_PROFILE_ARGON2_LIMIT", "0"))
    if limit:  # an experiment: at most `limit` verifications at a time (the rest wait, off the CPU)
        import argon2._password_hasher as argon2_hasher
        import argon2.low_level as argon2_low_level

        gate = threading.BoundedSemaphore(limit)

        def verify_secret(*args, **kwargs):  # type: ignore[no-untyped-def]
            with gate:  # looked up at call time, so the stopwatch below still sees the verification itself
                return argon2_low_level.verify_secret(*args, **kwargs)

        argon2_hasher.verify_secret = verify_secret
    watch = Stopwatch(sync_only=True)
    missing = watch.install()
    watch.enabled = True
    # uvicorn re-raises SIGTERM after its graceful shutdown; the handler it restores is this no-op, so the
    # report below still gets written.
    signal.signal(signal.SIGTERM, lambda *_: None)
    baseline = {"process_cpu": time.process_time(), "main_thread_cpu": time.thread_time()}

    def reset(*_: object) -> None:  # SIGUSR1 after the warm-up: count from here (handlers run on the main thread)
        watch.reset()
        baseline.update(process_cpu=time.process_time(), main_thread_cpu=time.thread_time())

    signal.signal(signal.SIGUSR1, reset)
    uvicorn.run("servicekonto.app:app_from_environment", factory=True, host="127.0.0.1", port=port, workers=1,
                loop="uvloop", http="httptools", access_log=False, log_config=None, proxy_headers=True,
                forwarded_allow_ips=",".join(settings.trusted_proxies), server_header=False, date_header=True)
    watch.enabled = False
    report.write_text(json.dumps({"cpu": watch.cpu, "calls": watch.calls, "missing": missing,
                                  "process_cpu": time.process_time() - baseline["process_cpu"],
                                  "main_thread_cpu": time.thread_time() - baseline["main_thread_cpu"]}))


def server_profile_rows(data: dict, logins: int) -> list[str]:
    """The report of serve_main as a table, per login (logins = calls of authenticate)."""
    cpu, calls = data["cpu"], data["calls"]
    process, main_thread = data["process_cpu"], data["main_thread_cpu"]
    lines = [f"server process {process / logins * 1e3:.2f} ms CPU/login: event-loop thread (uvicorn, httptools, "
             f"middleware, form parsing, routing, thread-pool hand-off) {main_thread / logins * 1e3:.2f} ms, "
             f"worker threads (the handlers) {(process - main_thread) / logins * 1e3:.2f} ms", "",
             "| µs CPU/login (inclusive) | calls/login | where (worker threads) |", "|---:|---:|---|"]
    seen = set()
    for _module, _owner, _attribute, label in INSTRUMENTED:
        if label in seen or label not in cpu:
            continue
        seen.add(label)
        lines.append(f"| {cpu[label] / logins * 1e6:,.0f} | {calls[label] / logins:.1f} | {label} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logins", type=int, default=300, help="logins per phase (default 300)")
    parser.add_argument("--stack", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--dump", help="write the pstats file here (for snakeviz and the like)")
    parser.add_argument("--postgres-admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "REPORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_main(int(args.serve[0]), Path(args.serve[1]))
        return
    if not 10 <= args.logins <= 5000:
        parser.error("--logins 10..5000")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
