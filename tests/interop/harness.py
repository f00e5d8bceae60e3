"""The pieces of an interop run: a relying party built on openid-client (a Node process spoken to in JSON
lines), the portal's own pages it redirects to, Chromium on a thread of its own, and the provider's side
(tenant, clients, a citizen) set up as an operator and a citizen would.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Concatenate, ParamSpec, TypeVar, cast
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from servicekonto.app import Container, build_container
from servicekonto.settings import load_settings
from tests.support.browser import TIMEOUT_MS, VIEWPORT, launch_chromium
from tests.support.outbox import last_link
from tests.support.server import PROJECT_ROOT, LiveServer, run_command, servicekonto_command

DRIVER = Path(__file__).resolve().parent / "oidc" / "openid_client_driver.mjs"
OPENID_CLIENT = PROJECT_ROOT / "node_modules" / "openid-client" / "package.json"
NODE = shutil.which("node")
CITIZEN_PASSWORD = "Heidestr17Köln!"
ANSWER_TIMEOUT = 45.0  # seconds; the driver's HTTP requests time out after 10 s each, a command makes a few

T = TypeVar("T")
P = ParamSpec("P")


# ------------------------------------------------------------------------------------------ the relying party


class DriverFailed(RuntimeError):
    """The driver process itself broke (exited, stalled, answered out of turn): not a protocol outcome."""


class OpenIdClientError(AssertionError):
    """openid-client refused or failed a call that should have worked; `error` is its report."""

    def __init__(self, command: str, error: dict[str, Any]) -> None:
        self.command = command
        self.error = error
        super().__init__(f"openid-client failed {command}: {json.dumps(error, ensure_ascii=False, indent=2)}")


class OpenIdClient:
    """A portal's relying party: `tests/interop/oidc/openid_client_driver.mjs` under Node, one JSON line per
    request and answer. `call()` returns a result (or raises OpenIdClientError), `refused()` returns the error
    of a call that must fail. Every exchange is kept in `transcript` for the report of a failing test."""

    def __init__(self, name: str, log_dir: Path) -> None:
        if NODE is None:
            raise DriverFailed("node is not on PATH")
        self.name = name
        self.transcript: list[str] = []
        self._stderr_path = log_dir / f"{name}-driver.stderr"
        self._stderr: IO[bytes] = self._stderr_path.open("wb")
        self._process = subprocess.Popen(
            [NODE, str(DRIVER)], cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, text=True, encoding="utf-8", bufsize=1)
        self._answers: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"{name}-driver-stdout", daemon=True)
        self._reader.start()
        self._last_id = 0

    def _read(self) -> None:
        """stdout on a thread of its own, so a silent driver costs a timeout, never a hang."""
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._answers.put(line)
        self._answers.put(None)

    def request(self, cmd: str, **params: Any) -> dict[str, Any]:
        """Send one command; its answer, `{"ok": true, "result": …}` or `{"ok": false, "error": …}`."""
        if self._process.stdin is None or self._process.poll() is not None:
            raise DriverFailed(f"the {self.name} driver is not running\n{self.stderr()}")
        self._last_id += 1
        line = json.dumps({"id": self._last_id, "cmd": cmd, **params}, ensure_ascii=False)
        self.transcript.append(f"> {line}")
        try:
            self._process.stdin.write(line + "\n")
            self._process.stdin.flush()
            raw = self._answers.get(timeout=ANSWER_TIMEOUT)
        except OSError as exc:  # a broken pipe: the driver is gone
            raise DriverFailed(f"the {self.name} driver went away ({exc})\n{self.stderr()}") from None
        except queue.Empty:
            raise DriverFailed(f"the {self.name} driver did not answer {cmd} within {ANSWER_TIMEOUT:.0f} s\n"
                               f"{self.stderr()}") from None
        if raw is None:
            raise DriverFailed(f"the {self.name} driver exited with {self._process.wait(5)} during {cmd}\n"
                               f"{self.stderr()}")
        self.transcript.append(f"< {raw.rstrip()}")
        try:
            answer: dict[str, Any] = json.loads(raw)
        except ValueError:
            raise DriverFailed(f"the {self.name} driver printed something other than an answer: {raw!r}") from None
        if answer.get("id") != self._last_id:
            raise DriverFailed(f"answer {answer.get('id')!r} to request {self._last_id}: out of turn")
        return answer

    def call(self, cmd: str, **params: Any) -> dict[str, Any]:
        answer = self.request(cmd, **params)
        if not answer["ok"]:
            raise OpenIdClientError(cmd, answer["error"])
        return cast(dict[str, Any], answer["result"])

    def refused(self, cmd: str, **params: Any) -> dict[str, Any]:
        """The error report of a call that must fail."""
        answer = self.request(cmd, **params)
        assert not answer["ok"], f"openid-client should have failed {cmd}, but it got {answer['result']!r}"
        return cast(dict[str, Any], answer["error"])

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        text = self._stderr_path.read_text(encoding="utf-8", errors="replace")
        return f"--- {self.name} driver stderr\n{text}" if text else f"({self.name} driver stderr: empty)"

    def close(self) -> None:
        """Ask the driver to quit, then make sure: every pipe closed, the process reaped."""
        process = self._process
        with suppress(OSError):
            if process.poll() is None and process.stdin is not None:
                process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                process.stdin.flush()
        with suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        self._reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
        self._stderr.close()


# -------------------------------------------------------------------------------------- the portal's own pages


class _PortalHandler(BaseHTTPRequestHandler):
    server: _PortalServer

    def do_GET(self) -> None:
        self.server.portal.record(self.server.portal.base_url + self.path)
        body = (b'<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Musterportal</title></head>'
                b"<body><main><h1>Musterportal</h1></main></body></html>")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads what arrived from `Portal.received`."""


class _PortalServer(ThreadingHTTPServer):
    daemon_threads = True
    portal: Portal


class Portal:
    """The portal's own pages on a port of 127.0.0.1: its redirect URI (`/callback`) and where it lands after
    logout (`/abgemeldet`). Every GET gets a small page, and its full URL is recorded: what the portal's
    server would hand to openid-client. `host` names it in its URLs: `localhost` is another host, so another
    sector of pairwise pseudonyms, on the same interface.

    A real server rather than Playwright's request interception, because a route does not see the target of
    a redirect (microsoft/playwright#33882), and the provider answers with nothing but redirects."""

    CALLBACK = "/callback"
    LOGGED_OUT = "/abgemeldet"

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._requests: list[str] = []
        self._server = _PortalServer(("127.0.0.1", 0), _PortalHandler)
        self._server.portal = self
        self.base_url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="portal", daemon=True)
        self._thread.start()

    @property
    def redirect_uri(self) -> str:
        return self.base_url + self.CALLBACK

    @property
    def post_logout_redirect_uri(self) -> str:
        return self.base_url + self.LOGGED_OUT

    def record(self, url: str) -> None:
        with self._lock:
            self._requests.append(url)

    def received(self, path: str) -> list[str]:
        """The full URLs of the requests that arrived for `path`, oldest first."""
        with self._lock:
            return [url for url in self._requests if urlsplit(url).path == path]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------- the browser


class BrowserThread:
    """Debian's Chromium under a Playwright instance of its own, on a worker thread of its own.

    Playwright's sync API allows one instance per thread, and the e2e tests' session-wide instance holds the
    main thread for the rest of a full run; so this one lives on a worker thread, and every browser step runs
    there (`BrowserTab.run`). The main thread keeps what is thread-neutral: the Node driver and assertions."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="interop-browser")
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on the browser's thread: its result, or what it raised."""
        return self._executor.submit(fn, *args, **kwargs).result()

    def start(self) -> None:
        self.call(self._start)

    def _start(self) -> None:
        self._playwright = sync_playwright().start()
        self._browser = launch_chromium(self._playwright)

    def new_tab(self, *, locale: str = "de-DE", **options: Any) -> BrowserTab:
        """A page in a fresh browser context (no cookies), as `new_page` of the e2e tests makes one."""
        return self.call(self._new_tab, locale, options)

    def _new_tab(self, locale: str, options: dict[str, Any]) -> BrowserTab:
        assert self._browser is not None, "BrowserThread.start() first"
        options.setdefault("viewport", VIEWPORT)
        context = self._browser.new_context(locale=locale, **options)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        return BrowserTab(self, context.new_page())

    def stop(self) -> None:
        try:
            self.call(self._stop)
        finally:
            self._executor.shutdown(wait=True)

    def _stop(self) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._playwright is not None:
            self._playwright.stop()


class BrowserTab:
    """One page, driven from the test's thread: `run(step, *args)` calls `step(page, *args)` on the
    browser's thread and returns what it returns (or raises what it raised)."""

    def __init__(self, thread: BrowserThread, page: Page) -> None:
        self._thread = thread
        self._page = page

    def run(self, step: Callable[Concatenate[Page, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._thread.call(step, self._page, *args, **kwargs)

    def close(self) -> None:
        self._thread.call(self._page.context.close)


# ----------------------------------------------------------------------------------------- the provider's side


def servicekonto_json(server: LiveServer, *args: str) -> dict[str, Any]:
    """`servicekonto ARGS --json` with the live server's environment, as an operator runs it."""
    return cast(dict[str, Any], json.loads(run_command(servicekonto_command(*args, "--json"), server.env)))


@dataclass(frozen=True)
class RegisteredClient:
    name: str
    client_id: str
    client_secret: str | None
    scopes: tuple[str, ...]


def register_client(server: LiveServer, *, tenant_id: str, name: str, portal: Portal, scopes: tuple[str, ...],
                    public: bool = False) -> RegisteredClient:
    args = ["oidc-client", "create", "--tenant", tenant_id, "--name", name,
            "--redirect-uri", portal.redirect_uri, "--post-logout-redirect-uri", portal.post_logout_redirect_uri]
    if public:
        args.append("--public")
    for scope in scopes:
        args += ["--scope", scope]
    created = servicekonto_json(server, *args)
    return RegisteredClient(name=name, client_id=str(created["client_id"]),
                            client_secret=created.get("client_secret") or None, scopes=scopes)


@contextmanager
def services_of(server: LiveServer) -> Iterator[Container]:
    """The server's services in this process, configured from exactly the server's environment (none of this
    process's own SERVICEKONTO_* settings), on its database."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("SERVICEKONTO_")]:
            patch.delenv(name)
        for name, value in server.env.items():
            if name.startswith("SERVICEKONTO_"):
                patch.setenv(name, value)
        settings = load_settings()
    container = build_container(settings)
    try:
        yield container
    finally:
        container.close()


@dataclass(frozen=True)
class Citizen:
    account_id: str
    username: str
    email: str
    password: str
    given_name: str
    family_name: str


def create_citizen(server: LiveServer, *, given_name: str = "Erika", family_name: str = "Mustermann",
                   password: str = CITIZEN_PASSWORD) -> Citizen:
    """A citizen at trust level 1: registered, the address confirmed through the link in the mail (the test
    system's outbox), names in the master data, as self-service would leave them."""
    suffix = secrets.token_hex(4)
    username, email = f"erika{suffix}", f"erika.{suffix}@example.de"
    with services_of(server) as services:
        services.accounts.register(username=username, email=email, password=password, password_repeat=password,
                                   accepted_terms=True, locale="de")
        link = last_link(services.settings.data_dir / "outbox", to=email, containing="/registrieren/bestaetigen")
        account = services.accounts.verify(parse_qs(urlsplit(link).query)["token"][0])
        services.accounts.update_master_data(account, {"given_name": given_name, "family_name": family_name})
    return Citizen(account_id=account.id, username=username, email=email, password=password,
                   given_name=given_name, family_name=family_name)
