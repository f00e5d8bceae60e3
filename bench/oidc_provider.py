"""Our OpenID Provider against panva's oidc-provider (the certified Node.js provider), configured alike, in one run.

Both servers run pinned to CPU 0 (`servicekonto serve` on PostgreSQL + Redis; `node bench/oidc_peer/server.mjs`,
oidc-provider 9 on the same kind of store: grants, refresh tokens and the account in PostgreSQL, everything
short-lived in Redis, as ours), the load generator pinned to CPU 1, 32 keep-alive connections, 127.0.0.1 only.
Cells are interleaved (ours, peer, ours, peer …); the table gives requests/s (median, min–max), the p99
latency and the ratio ours/peer per row (goal ≥ 1.0 on every row; a report, not a gate). A second table gives
each server's CPU time per request (from /proc, all threads), which a shared machine disturbs less.

    discovery      GET /.well-known/openid-configuration
    JWKS           GET the jwks_uri
    token (cc)     POST the token endpoint, client_credentials, client_secret_basic: an ES256 JWT access token
    refresh        POST the token endpoint, refresh_token with rotation: every connection chains its own
                   refresh token (one login each), so this row runs on the Python load generator, on both sides
    userinfo       GET the userinfo endpoint with a bearer access token from a user login
    introspection  POST the introspection endpoint (client_secret_basic) with that access token; every
                   answer must say "active": true

Our user tokens come from real logins through the pages (authorization code flow with PKCE: /oidc/authorize,
the login form, the consent form, the code exchange), one per refresh chain and one for userinfo and
introspection. The peer mints the equivalent grants and tokens through its own models at start.
Rows our server cannot serve yet say "skipped: <why>" on our side; the peer's side is measured anyway.

Usage: python bench/oidc_provider.py [--runs 3] [--seconds 5] [--loadgen auto|wrk|python] [--node PATH]
       [--user-token-format opaque|jwt]   (see bench/README.md)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.parse import parse_qs, quote, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_shell import (
    _UNITS,
    CONNECTIONS,
    HOST,
    LOAD_CPU,
    SERVER_CPU,
    _pinned,
    choose_loadgen,
    free_port,
    our_environment,
    running,
    wait_until_up,
)
from password_login import (
    DEFAULT_ADMIN_URL,
    DEFAULT_REDIS_URL,
    PASSWORD,
    Browser,
    create_accounts,
    postgres_database,
    postgres_reachable,
    redis_prefix,
)

PEER_DIR = Path(__file__).resolve().parent / "oidc_peer"
GOAL = 1.0
WARMUP_SECONDS = 2.0  # Node's JIT needs a moment; a second cell was still climbing
REDIRECT_URI = "http://127.0.0.1:9/cb"  # never called: the flow stops at the Location header
USER_SCOPES = ("openid", "profile", "email", "offline_access")
DISCOVERY_PATH = "/.well-known/openid-configuration"
# Where docs/integration/oidc.md puts our endpoints; discovery, when it answers, has the last word.
DEFAULT_ENDPOINTS = {
    "authorization_endpoint": "/oidc/authorize",
    "token_endpoint": "/oidc/token",
    "userinfo_endpoint": "/oidc/userinfo",
    "introspection_endpoint": "/oidc/introspect",
    "jwks_uri": "/jwks",
}
MAX_FLOW_STEPS = 12
# 12 cells per round (6 rows × 2 sides) and warm-ups must end before the user access token, fetched before
# them, expires: 10 minutes on both sides.
MAX_MEASURED_SECONDS = 40


class Unavailable(Exception):
    """A server cannot serve a row (yet): the row's side is skipped with this reason."""


# ------------------------------------------------------------------------------------------ the requests


@dataclass(frozen=True)
class Request:
    """One HTTP request as both load generators send it, and what a good answer's body looks like."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    expect: str = ""  # a regular expression every good body matches

    def raw(self, port: int) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {HOST}:{port}", "Accept: application/json"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.method == "POST":
            lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(self.body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n" + self.body).encode()


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str

    def basic(self) -> tuple[str, str]:
        """client_secret_basic: both parts form-encoded before base64 (RFC 6749, section 2.3.1)."""
        pair = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}"
        return ("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())


def form(values: dict[str, str]) -> str:
    return urlencode(values)


def send(port: int, request: Request) -> tuple[int, bytes]:
    """One request on a fresh connection (for setup and checks, not for load)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        headers = dict(request.headers)
        if request.method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(request.method, request.path, body=request.body or None, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def json_answer(port: int, request: Request) -> dict[str, Any]:
    """A JSON answer with status 200, else Unavailable saying what came instead."""
    status, body = send(port, request)
    if status != 200:
        raise Unavailable(f"{request.method} {request.path} answers {status} {body[:160].decode('utf-8', 'replace')}")
    try:
        return cast(dict[str, Any], json.loads(body))
    except ValueError as exc:
        raise Unavailable(f"{request.method} {request.path} answers no JSON") from exc


# ------------------------------------------------------------------------------------------ the servers


@dataclass
class Server:
    """What the harness knows about one running server: where it is, its clients, its user tokens."""

    name: str
    port: int
    endpoints: dict[str, str]  # discovery key -> path
    machine: Credentials | None = None  # for client_credentials
    portal: Credentials | None = None  # for the user tokens, refresh and introspection
    access_token: str | None = None
    refresh_tokens: list[str] = field(default_factory=list)
    problem: str = ""  # why clients or user tokens are missing
    pid: int | None = None  # the server process, whose CPU time each cell reads


def endpoints_of(port: int) -> tuple[dict[str, str], str]:
    """The endpoint paths from discovery, or the documented ones and why discovery did not give them."""
    try:
        status, body = send(port, Request("GET", DISCOVERY_PATH))
        document = json.loads(body) if status == 200 else None
    except (OSError, ValueError):
        document = None
    if not isinstance(document, dict):
        return dict(DEFAULT_ENDPOINTS), "no discovery document"
    paths = {key: urlsplit(str(document.get(key) or default)).path for key, default in DEFAULT_ENDPOINTS.items()}
    return paths, ""


def servicekonto_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run `servicekonto … --json`; Unavailable with the command's (English) message when it fails."""
    result = subprocess.run([sys.executable, "-m", "servicekonto", *args, "--json"], env=env, capture_output=True,
                            text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise Unavailable(f"`servicekonto {' '.join(args[:2])}` failed: {lines[-1] if lines else result.returncode}")
    return cast(dict[str, Any], json.loads(result.stdout))


def register_clients(env: dict[str, str], token_format: str) -> tuple[Credentials, Credentials]:
    """A tenant with a machine client (client_credentials, JWT access tokens) and a portal client (code +
    refresh, PKCE) whose access tokens have `token_format`: opaque by default, as the peer's userinfo tokens."""
    tenant = servicekonto_json(env, "tenant", "create", "--name", "Bench")["id"]
    machine = servicekonto_json(env, "oidc-client", "create", "--tenant", tenant, "--name", "Bench machine",
                                "--grant-type", "client_credentials")
    portal = servicekonto_json(env, "oidc-client", "create", "--tenant", tenant, "--name", "Bench portal",
                               "--redirect-uri", REDIRECT_URI, "--access-token-format", token_format)
    return (Credentials(machine["client_id"], machine["client_secret"]),
            Credentials(portal["client_id"], portal["client_secret"]))


@contextlib.contextmanager
def our_server(tmpdir: Path, env: dict[str, str], port: int, pin: bool, token_format: str) -> Iterator[Server]:
    """`servicekonto serve` on a migrated database, with its clients and user tokens from real logins."""
    subprocess.run([sys.executable, "-m", "servicekonto", "migrate"], env=env, check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=300)
    server = Server("Servicekonto", port, dict(DEFAULT_ENDPOINTS))
    try:
        server.machine, server.portal = register_clients(env, token_format)
    except Unavailable as exc:
        server.problem = str(exc)
    accounts = create_accounts(env, CONNECTIONS + 1) if server.portal else []
    command = [sys.executable, "-m", "servicekonto", "serve", "--host", HOST, "--port", str(port)]
    log = tmpdir / "ours.log"
    with running(command, env=env, log=log, pin=pin) as proc:
        wait_until_up(proc, port, "/healthz", log)
        server.pid = proc.pid  # taskset execs the server: the same process
        server.endpoints, _ = endpoints_of(port)
        if server.portal:
            try:
                server.refresh_tokens, server.access_token = our_user_tokens(server, server.portal, accounts)
            except (Unavailable, OSError, http.client.HTTPException) as exc:
                server.problem = f"no user tokens: {exc}"
        yield server


@contextlib.contextmanager
def peer_server(tmpdir: Path, node: str, redis_url: str, prefix: str, postgres_url: str, port: int,
                pin: bool) -> Iterator[Server]:
    """oidc-provider (bench/oidc_peer/server.mjs) with its client and the user tokens it minted at start; its
    grants, refresh tokens and account in PostgreSQL (a table of its own in our database), the rest in Redis."""
    secret = secrets.token_urlsafe(32)
    tokens_file = tmpdir / "peer-tokens.json"
    command = [node, str(PEER_DIR / "server.mjs"), "--port", str(port), "--redis-url", redis_url,
               "--redis-prefix", prefix, "--postgres-url", postgres_url.replace("postgresql+psycopg://", "postgresql://"),
               f"--client-secret={secret}", "--refresh-chains", str(CONNECTIONS), "--tokens-file", str(tokens_file)]
    log = tmpdir / "peer.log"
    with running(command, env={**os.environ, "NODE_ENV": "production"}, log=log, pin=pin) as proc:
        wait_until_up(proc, port, DISCOVERY_PATH, log)
        tokens = json.loads(tokens_file.read_text())
        client = Credentials(tokens["client_id"], secret)
        endpoints, problem = endpoints_of(port)
        if problem:
            raise RuntimeError(f"the peer serves {problem}")
        yield Server("oidc-provider", port, endpoints, machine=client, portal=client,
                     access_token=tokens["access_token"], refresh_tokens=list(tokens["refresh_tokens"]),
                     pid=proc.pid)


def install_peer(npm: str) -> str | None:
    """`npm ci` in bench/oidc_peer when node_modules is missing or older than the lock file; None when ready."""
    lock, installed = PEER_DIR / "package-lock.json", PEER_DIR / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return None
    print("installing the peer: npm ci in bench/oidc_peer", flush=True)
    result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=600, check=False)
    if result.returncode != 0:
        return f"npm ci in bench/oidc_peer failed: {result.stderr.strip()[-500:]}"
    return None


def versions(node: str) -> str:
    peer = json.loads((PEER_DIR / "node_modules" / "oidc-provider" / "package.json").read_text())["version"]
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    return f"oidc-provider {peer} on Node {node_version}"


# ------------------------------------------------------------------- our user tokens: a browser's login


@dataclass
class HtmlForm:
    action: str
    hidden: dict[str, str] = field(default_factory=dict)
    inputs: set[str] = field(default_factory=set)
    buttons: set[tuple[str, str]] = field(default_factory=set)  # (name, value) of named submit buttons


class _Forms(HTMLParser):
    """The POST forms of a page, as a browser sees them (attribute order and entities do not matter)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[HtmlForm] = []
        self._open: HtmlForm | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self._open = HtmlForm(a.get("action", ""))
            self.forms.append(self._open)
        elif self._open is not None and tag == "input" and a.get("name"):
            self._open.inputs.add(a["name"])
            if a.get("type") == "hidden":
                self._open.hidden[a["name"]] = a.get("value", "")
        elif self._open is not None and tag == "button" and a.get("name"):
            self._open.buttons.add((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def answer_page(page: str, username: str) -> tuple[str, dict[str, str]]:
    """What a citizen submits on this page: the login form (identifier and password) or the consent form
    (decision=allow), with the form's hidden fields (csrf_token and whatever else it carries)."""
    parser = _Forms()
    parser.feed(page)
    for candidate in parser.forms:
        if "password" in candidate.inputs:
            return candidate.action, {**candidate.hidden, "identifier": username, "password": PASSWORD}
        if ("decision", "allow") in candidate.buttons:
            return candidate.action, {**candidate.hidden, "decision": "allow"}
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    raise Unavailable(f"a page with neither a login nor a consent form ({title.group(1).strip() if title else '?'})")


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def local_target(location: str, port: int) -> str:
    """The path and query of a redirect that must stay on the server."""
    target = urlsplit(location)
    if target.netloc and target.netloc != f"{HOST}:{port}":
        raise Unavailable(f"a redirect off the server: {location}")
    return target.path + (f"?{target.query}" if target.query else "")


def authorization_code(server: Server, client: Credentials, username: str, scope: str) -> tuple[str, str]:
    """The authorization code flow with PKCE as a browser walks it: GET the authorization endpoint, follow
    redirects, fill the login and consent forms, stop at the redirect to the client. Returns (code, verifier)."""
    browser = Browser(server.port)
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    query = urlencode({"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT_URI,
                       "scope": scope, "state": state, "nonce": secrets.token_urlsafe(16),
                       "code_challenge": challenge, "code_challenge_method": "S256"})
    path = f"{server.endpoints['authorization_endpoint']}?{query}"
    try:
        status, location, page = browser.request("GET", path)
        for _ in range(MAX_FLOW_STEPS):
            if status in (301, 302, 303, 307) and location.startswith(REDIRECT_URI):
                params = parse_qs(urlsplit(location).query)
                if params.get("state") != [state] or "code" not in params:
                    raise Unavailable(f"the redirect to the client carries no code: {params.get('error')}")
                return params["code"][0], verifier
            if status in (301, 302, 303, 307):
                path = local_target(location, server.port)
                status, location, page = browser.request("GET", path)
            elif status == 200:
                action, values = answer_page(page, username)
                status, location, page = browser.request("POST", action or path, values)
            else:
                raise Unavailable(f"{path.split('?')[0]} answers {status}")
        raise Unavailable(f"no redirect to the client after {MAX_FLOW_STEPS} steps")
    finally:
        browser.conn.close()


def user_scope(server: Server) -> str:
    """The scopes a portal asks for, limited to what discovery says the server supports."""
    with contextlib.suppress(OSError, ValueError):
        status, body = send(server.port, Request("GET", DISCOVERY_PATH))
        supported = json.loads(body).get("scopes_supported") if status == 200 else None
        if supported:
            return " ".join(s for s in USER_SCOPES if s in supported)
    return " ".join(USER_SCOPES)


def login_tokens(server: Server, client: Credentials, username: str, scope: str) -> dict[str, Any]:
    """One login and the code exchange at the token endpoint: the token response."""
    code, verifier = authorization_code(server, client, username, scope)
    body = form({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
                 "code_verifier": verifier})
    return json_answer(server.port, Request("POST", server.endpoints["token_endpoint"], (client.basic(),), body))


def our_user_tokens(server: Server, client: Credentials, accounts: list[str]) -> tuple[list[str], str]:
    """One login per refresh chain (each connection its own citizen and grant), and one more whose access
    token serves the userinfo and introspection rows."""
    scope = user_scope(server)
    refresh_tokens = []
    for username in accounts[:CONNECTIONS]:
        response = login_tokens(server, client, username, scope)
        if "refresh_token" not in response:
            raise Unavailable(f"the code exchange gives no refresh_token (scope {scope!r})")
        refresh_tokens.append(str(response["refresh_token"]))
    response = login_tokens(server, client, accounts[CONNECTIONS], scope)
    if "access_token" not in response:
        raise Unavailable("the code exchange gives no access_token")
    return refresh_tokens, str(response["access_token"])


# ----------------------------------------------------------------------------------------------- the rows


@dataclass
class Side:
    """One server's half of a row: what it is sent (or why not), and what came back."""

    request: Request | None = None
    skipped: str = ""  # why this side was never measured
    failed: str = ""  # why its measuring stopped: an error under load
    rps: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)  # ms, one per run
    cpu_us: list[float] = field(default_factory=list)  # the server's CPU µs per answered request, one per run
    note: str = ""  # what a good answer holds (token formats), for the reader to judge the equivalence

    @property
    def active(self) -> bool:
        return not (self.skipped or self.failed)


@dataclass
class Row:
    title: str
    build: Callable[[Server], Request]  # the request for a server; raises Unavailable
    chained: bool = False  # refresh: each connection sends the refresh token it got last
    verify_bodies: bool = False  # every answer's body is checked under load, not only the status
    sides: dict[str, Side] = field(default_factory=dict)  # "ours", "peer"


def discovery_request(server: Server) -> Request:
    return Request("GET", DISCOVERY_PATH, expect=r'"issuer"\s*:')


def jwks_request(server: Server) -> Request:
    return Request("GET", server.endpoints["jwks_uri"], expect=r'"keys"\s*:\s*\[\s*\{')


def client_credentials_request(server: Server) -> Request:
    if server.machine is None:
        raise Unavailable(server.problem or "no machine client")
    return Request("POST", server.endpoints["token_endpoint"], (server.machine.basic(),),
                   form({"grant_type": "client_credentials"}), expect=r'"access_token"\s*:')


def refresh_request(server: Server, refresh_token: str = "") -> Request:
    """The refresh row's request; the load generator puts each connection's current token in."""
    if server.portal is None or not server.refresh_tokens:
        raise Unavailable(server.problem or "no refresh tokens")
    return Request("POST", server.endpoints["token_endpoint"], (server.portal.basic(),),
                   form({"grant_type": "refresh_token", "refresh_token": refresh_token or server.refresh_tokens[0]}),
                   expect=r'"refresh_token"\s*:')


def userinfo_request(server: Server) -> Request:
    if server.access_token is None:
        raise Unavailable(server.problem or "no access token")
    return Request("GET", server.endpoints["userinfo_endpoint"], (("Authorization", f"Bearer {server.access_token}"),),
                   expect=r'"sub"\s*:')


def introspection_request(server: Server) -> Request:
    if server.access_token is None or server.portal is None:
        raise Unavailable(server.problem or "no access token")
    body = form({"token": server.access_token, "token_type_hint": "access_token"})
    return Request("POST", server.endpoints["introspection_endpoint"], (server.portal.basic(),), body,
                   expect=r'"active"\s*:\s*true')


def rows() -> list[Row]:
    return [
        Row("discovery", discovery_request),
        Row("JWKS", jwks_request),
        Row("token: client_credentials (JWT AT)", client_credentials_request),
        Row("token: refresh_token (rotation)", refresh_request, chained=True),
        Row("userinfo (GET, bearer)", userinfo_request),
        Row("introspection (POST, basic)", introspection_request, verify_bodies=True),
    ]


def describe_jwt(token: str) -> str:
    """A token's format as the reader needs it to compare: "JWT ES256 at+jwt" or "opaque"."""
    if token.count(".") != 2:
        return "opaque"
    with contextlib.suppress(ValueError):
        head = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
        return f"JWT {header.get('alg')} {header.get('typ', '')}".strip()
    return "not a JWT"


def describe_token_response(response: dict[str, Any]) -> str:
    parts = [f"access_token {describe_jwt(str(response.get('access_token', '')))}"]
    if "id_token" in response:
        parts.append(f"id_token {describe_jwt(str(response['id_token']))}")
    if "refresh_token" in response:
        parts.append("new refresh_token")
    return ", ".join(parts)


def probe(row: Row, server: Server) -> Side:
    """Build the row's request for a server and send it once: a side that works, or why not."""
    try:
        request = row.build(server)
        status, body = send(server.port, request)
        text = body.decode("utf-8", "replace")
        if status != 200 or not re.search(request.expect, text):
            detail = f" {text[:160]}" if text.startswith("{") else ""
            raise Unavailable(f"{request.method} {request.path} answers {status}{detail}")
    except (Unavailable, OSError, http.client.HTTPException) as exc:
        return Side(skipped=str(exc))
    note = ""
    bearer = dict(request.headers).get("Authorization", "")
    if bearer.startswith("Bearer "):
        note = f"bearer access token {describe_jwt(bearer.removeprefix('Bearer '))}"
    if '"access_token"' in text:
        response = json.loads(text)
        note = describe_token_response(response)
        if row.chained:  # the probe used the first chain's token: continue that chain with the new one
            server.refresh_tokens[0] = str(response["refresh_token"])
    return Side(request=request, note=note)


# ---------------------------------------------------------------------------------------- the load: wrk


def lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def wrk_script(request: Request, verify_bodies: bool) -> str:
    """wrk's request (method, headers, body), and with verify_bodies a count of the bodies that do not match
    `expect` (as a Lua pattern: our expressions use no other special characters than \\s)."""
    lines = [f"wrk.method = {lua_string(request.method)}"]
    if request.body:
        lines.append(f"wrk.body = {lua_string(request.body)}")
        lines.append('wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"')
    lines += [f"wrk.headers[{lua_string(name)}] = {lua_string(value)}" for name, value in request.headers]
    if verify_bodies:
        pattern = request.expect.replace("\\s", "%s")
        lines += [
            "bad = 0",
            "local threads = {}",
            "function setup(thread) table.insert(threads, thread) end",
            "function response(status, headers, body)",
            f"  if not string.find(body, {lua_string(pattern)}) then bad = bad + 1 end",
            "end",
            "function done(summary, latency, requests)",
            "  local total = 0",
            "  for _, thread in ipairs(threads) do total = total + thread:get('bad') end",
            '  io.write(string.format("Unexpected bodies: %d\\n", total))',
            "end",
        ]
    return "\n".join(lines) + "\n"


def wrk_cell(port: int, request: Request, verify_bodies: bool, seconds: float, pin: bool,
             tmpdir: Path) -> tuple[float, float]:
    """(requests/s, p99 ms) of one wrk run; CellFailed when any answer was wrong."""
    script = tmpdir / f"wrk-{secrets.token_hex(4)}.lua"
    script.write_text(wrk_script(request, verify_bodies))
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout", "5s", "--latency",
               "-s", str(script), f"http://{HOST}:{port}{request.path}"]
    result = subprocess.run(_pinned(command, LOAD_CPU, pin), capture_output=True, text=True,
                            timeout=seconds + 30, check=False)
    script.unlink()
    out = result.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    problems = [m.group(0) for m in re.finditer(r"(Non-2xx or 3xx responses|Socket errors|Unexpected bodies):.*",
                                                out) if not m.group(0).endswith(": 0")]
    if result.returncode != 0 or rps is None or p99 is None or problems:
        raise CellFailed("; ".join(problems) or result.stderr.strip()[-300:] or out.strip()[-300:])
    return float(rps.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)]


class CellFailed(Exception):
    """A load run had wrong answers or errors."""


# ----------------------------------------------------------------------------- the load: Python, chaining

_HEAD_END = b"\r\n\r\n"
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


class _Fixed:
    """The same request every time; a body that does not match `expect` counts as an error."""

    def __init__(self, raw: bytes, expect: str | None) -> None:
        self.raw = raw
        self.expect = re.compile(expect.encode()) if expect else None

    def accept(self, body: bytes) -> bool:
        return self.expect is None or self.expect.search(body) is not None

    def request(self) -> bytes:
        return self.raw


class _RefreshChain:
    """One connection's refresh token: each answer's new refresh token goes into the next request."""

    def __init__(self, template: Request, port: int, token: str) -> None:
        self.template = template
        self.port = port
        self.token = token

    def accept(self, body: bytes) -> bool:
        try:
            self.token = str(json.loads(body)["refresh_token"])
        except (ValueError, KeyError, TypeError):
            return False
        return True

    def request(self) -> bytes:
        body = form({"grant_type": "refresh_token", "refresh_token": self.token})
        return Request(self.template.method, self.template.path, self.template.headers, body).raw(self.port)


class _Script(Protocol):
    def accept(self, body: bytes) -> bool: ...

    def request(self) -> bytes: ...


@dataclass
class _Stats:
    ok: int = 0
    errors: int = 0
    first_error: str = ""
    latencies: list[float] = field(default_factory=list)  # ms

    def error(self, what: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or what


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a request, its whole response, checked, the next request, until the deadline
    (http_shell's generator, plus latencies, body checks and chaining). An error ends the connection."""

    def __init__(self, script: _Script, deadline: float, stats: _Stats, done: asyncio.Future[None]) -> None:
        self.script = script
        self.deadline = deadline
        self.stats = stats
        self.done = done
        self.buffer = bytearray()
        self.sent = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent = time.perf_counter()
        self.transport.write(self.script.request())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(_HEAD_END)
        if end < 0:
            return
        head = bytes(self.buffer[:end])
        length = _CONTENT_LENGTH.search(head)
        if length is None:
            self._finish(f"no content-length: {head[:80]!r}")
            return
        total = end + 4 + int(length.group(1))
        if len(self.buffer) < total:
            return
        body = bytes(self.buffer[end + 4:total])
        del self.buffer[:total]
        if head[9:10] != b"2" or not self.script.accept(body):
            self._finish(f"{head[9:12].decode()} {body[:160].decode('utf-8', 'replace')}")
            return
        self.stats.ok += 1
        now = time.perf_counter()
        self.stats.latencies.append((now - self.sent) * 1e3)
        if now >= self.deadline:
            self._finish()
        else:
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.stats.error(f"connection lost: {exc}")
            self.done.set_result(None)

    def _finish(self, error: str = "") -> None:
        if error:
            self.stats.error(error)
        if not self.done.done():
            self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()


async def _python_load(port: int, scripts: list[_Script], seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stats = _Stats()
    started = time.perf_counter()
    waiters: list[asyncio.Future[None]] = []
    for script in scripts:
        done: asyncio.Future[None] = loop.create_future()
        waiters.append(done)
        await loop.create_connection(partial(_Connection, script, started + seconds, stats, done), HOST, port)
    await asyncio.wait_for(asyncio.gather(*waiters), timeout=seconds + 15)
    elapsed = time.perf_counter() - started
    ordered = sorted(stats.latencies) or [0.0]
    return {"rps": stats.ok / elapsed, "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            "errors": stats.errors, "first_error": stats.first_error}


def python_load_main(spec_file: Path) -> None:
    """The load generator's process (pinned to CPU 1): reads its spec, runs, prints the result as JSON, and
    for a chained row writes each connection's last refresh token back for the next run."""
    spec = json.loads(spec_file.read_text())
    request = Request(**{**spec["request"], "headers": tuple(tuple(h) for h in spec["request"]["headers"])})
    scripts: list[_Script]
    if spec["chains"] is not None:
        scripts = [_RefreshChain(request, spec["port"], token) for token in spec["chains"]]
    else:
        raw = request.raw(spec["port"])
        scripts = [_Fixed(raw, request.expect if spec["verify_bodies"] else None) for _ in range(CONNECTIONS)]
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(_python_load(spec["port"], scripts, spec["seconds"]))
    else:
        result = uvloop.run(_python_load(spec["port"], scripts, spec["seconds"]))
    if spec["chains"] is not None:
        spec["chains"] = [cast(_RefreshChain, script).token for script in scripts]
        spec_file.write_text(json.dumps(spec))
    print(json.dumps(result))


def python_cell(port: int, request: Request, row: Row, server: Server, seconds: float, pin: bool,
                tmpdir: Path) -> tuple[float, float]:
    """(requests/s, p99 ms) of one run of the Python load generator; a chained row continues the server's
    refresh chains and keeps the tokens they end with."""
    spec_file = tmpdir / f"load-{server.name}.json"
    spec = {"port": port, "seconds": seconds, "verify_bodies": row.verify_bodies,
            "request": {"method": request.method, "path": request.path, "headers": request.headers,
                        "body": request.body, "expect": request.expect},
            "chains": server.refresh_tokens if row.chained else None}
    spec_file.write_text(json.dumps(spec))
    command = [sys.executable, __file__, "--load", str(spec_file)]
    result = subprocess.run(_pinned(command, LOAD_CPU, pin), capture_output=True, text=True,
                            timeout=seconds + 60, check=False)
    if row.chained:
        server.refresh_tokens = json.loads(spec_file.read_text())["chains"]
    if result.returncode != 0:
        raise CellFailed(f"load generator failed: {result.stderr.strip()[-300:]}")
    data = json.loads(result.stdout)
    if data["errors"]:
        raise CellFailed(f"{data['errors']} failed requests, e.g. {data['first_error']}")
    return float(data["rps"]), float(data["p99"])


# --------------------------------------------------------------------------------------------- the run


def measure(row: Row, side: Side, server: Server, loadgen: str, seconds: float, pin: bool, tmpdir: Path,
            *, record: bool = True) -> None:
    """One cell; a failure ends this side of the row with the reason (the other cells go on)."""
    assert side.request is not None
    cpu_before = process_cpu_seconds(server.pid)
    try:
        if row.chained or loadgen == "python":
            rps, p99 = python_cell(server.port, side.request, row, server, seconds, pin, tmpdir)
        else:
            rps, p99 = wrk_cell(server.port, side.request, row.verify_bodies, seconds, pin, tmpdir)
    except (CellFailed, subprocess.TimeoutExpired, ValueError) as exc:
        side.failed = str(exc)
        return
    cpu_after = process_cpu_seconds(server.pid)
    if record:
        side.rps.append(rps)
        side.p99.append(p99)
        if cpu_before is not None and cpu_after is not None and rps > 0:
            side.cpu_us.append((cpu_after - cpu_before) / (rps * seconds) * 1e6)


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process, all its threads (Linux /proc); None where unknown. What a
    cell costs the server, less sensitive than requests/s to what else runs on a shared machine (the
    database and Redis count for neither side)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(servers: dict[str, Server], args: argparse.Namespace, loadgen: str, pin: bool,
          tmpdir: Path) -> list[Row]:
    """Probe every row on both servers, warm up, then the interleaved rounds."""
    table = rows()
    for row in table:
        row.sides = {key: probe(row, server) for key, server in servers.items()}
    for row in table:
        for key, side in row.sides.items():
            if side.active:
                measure(row, side, servers[key], loadgen, WARMUP_SECONDS, pin, tmpdir, record=False)
    for round_no in range(1, args.runs + 1):
        for row in table:
            for key, side in row.sides.items():
                if side.active:
                    measure(row, side, servers[key], loadgen, args.seconds, pin, tmpdir)
            print(f"round {round_no}: {row.title}: " + ", ".join(
                f"{servers[key].name} {side.rps[-1]:,.0f} req/s" if side.active and side.rps
                else f"{servers[key].name} {'failed' if side.failed else 'skipped'}"
                for key, side in row.sides.items()), flush=True)
    return table


def fmt(values: list[float]) -> str:
    if not values:
        return "–"
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})"


def cell_text(side: Side) -> tuple[str, str]:
    if side.skipped:
        return f"skipped: {side.skipped}", ""
    if side.failed:
        return f"failed under load: {side.failed}", ""
    return fmt(side.rps), f"{statistics.median(side.p99):.1f}" if side.p99 else "–"


def ratio_of(row: Row) -> float | None:
    ours, peer = row.sides["ours"], row.sides["peer"]
    if not (ours.active and peer.active and ours.rps and peer.rps):
        return None
    return statistics.median(ours.rps) / statistics.median(peer.rps)


def report(table: list[Row], args: argparse.Namespace, loadgen: str, pin: bool, peer_version: str) -> None:
    where = (f"servers on CPU {SERVER_CPU}, load on CPU {LOAD_CPU}" if pin
             else "not pinned (taskset missing or fewer than 2 CPUs)")
    generator = f"wrk -t1 -c{CONNECTIONS}" if loadgen == "wrk" else f"Python load generator, c={CONNECTIONS}"
    print()
    print(f"OpenID Provider: Servicekonto vs {peer_version}, both on PostgreSQL (grants, refresh tokens, "
          "accounts) + Redis (the rest)")
    print(f"{generator}; refresh: Python load generator on both sides, {CONNECTIONS} connections each chaining "
          f"its own refresh token; {where}")
    print(f"{args.runs} × {args.seconds:g} s per cell, interleaved; our log level {args.log_level}; "
          "requests/s: median (min–max); p99: median of the runs' p99 in ms")
    print()
    print("| row | Servicekonto req/s | p99 ms | oidc-provider req/s | p99 ms | ours/peer |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in table:
        ours, ours_p99 = cell_text(row.sides["ours"])
        peer, peer_p99 = cell_text(row.sides["peer"])
        ratio = ratio_of(row)
        print(f"| {row.title} | {ours} | {ours_p99} | {peer} | {peer_p99} | "
              f"{'–' if ratio is None else f'{ratio:.2f}'} |")
    if any(side.cpu_us for row in table for side in row.sides.values()):
        print()
        print("server CPU per request (user + system, µs, median of the runs; the ratio is peer/ours, so ≥ 1.0 means "
              "ours costs less; the wall-clock table above is what the goal is measured on):")
        print()
        print("| row | Servicekonto CPU µs | oidc-provider CPU µs | peer/ours |")
        print("|---|---:|---:|---:|")
        for row in table:
            ours_cpu, peer_cpu = row.sides["ours"].cpu_us, row.sides["peer"].cpu_us
            cells = [f"{statistics.median(values):,.0f}" if values else "–" for values in (ours_cpu, peer_cpu)]
            cpu_ratio = (f"{statistics.median(peer_cpu) / statistics.median(ours_cpu):.2f}"
                         if ours_cpu and peer_cpu else "–")
            print(f"| {row.title} | {cells[0]} | {cells[1]} | {cpu_ratio} |")
    notes = [(row, key, side.note) for row in table for key, side in row.sides.items() if side.note]
    if notes:
        print()
        print("answers (to judge the equivalence):")
        for row, key, note in notes:
            print(f"  {row.title}, {'Servicekonto' if key == 'ours' else 'oidc-provider'}: {note}")
    print()
    for row in table:
        ratio = ratio_of(row)
        verdict = "not measured" if ratio is None else ("met" if ratio >= GOAL else "not met")
        print(f"goal ≥ {GOAL:.1f}: {verdict} ({row.title}" + ("" if ratio is None else f", ratio {ratio:.2f}") + ")")


def prerequisites(args: argparse.Namespace) -> str | None:
    """None when everything the run needs is there, else why the benchmark is skipped."""
    node, npm = shutil.which(args.node), shutil.which("npm")
    if node is None or npm is None:
        return f"{args.node if node is None else 'npm'} not found (the peer runs on Node.js)"
    reason: str | None = postgres_reachable(args.postgres_admin_url, args.redis_url)
    return reason or install_peer(npm)


def run(args: argparse.Namespace) -> None:
    reason = prerequisites(args)
    if reason:
        print(f"OpenID Provider benchmark skipped: {reason}")
        return
    loadgen = choose_loadgen(args.loadgen)
    pin = bool(shutil.which("taskset")) and len(os.sched_getaffinity(0)) >= 2
    with contextlib.ExitStack() as stack:
        tmpdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sk-bench-oidc-")))
        database_url = stack.enter_context(postgres_database(args.postgres_admin_url))
        our_prefix = stack.enter_context(redis_prefix(args.redis_url))
        peer_prefix = stack.enter_context(redis_prefix(args.redis_url))
        data_dir = tmpdir / "data"
        data_dir.mkdir()
        our_port, peer_port = free_port(), free_port()
        env = {**our_environment(data_dir, our_port, args.log_level), "SERVICEKONTO_DATABASE_URL": database_url,
               "SERVICEKONTO_REDIS_URL": args.redis_url, "SERVICEKONTO_REDIS_PREFIX": our_prefix}
        ours = stack.enter_context(our_server(tmpdir, env, our_port, pin, args.user_token_format))
        peer = stack.enter_context(peer_server(tmpdir, args.node, args.redis_url, peer_prefix, database_url,
                                               peer_port, pin))
        table = bench({"ours": ours, "peer": peer}, args, loadgen, pin, tmpdir)
    report(table, args, loadgen, pin, versions(args.node))
    broken = [row.title for row in table if not row.sides["peer"].active]
    if broken:
        sys.exit(f"the peer failed on: {', '.join(broken)} (see the table)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="measured runs per cell (default 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one run (default 5)")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto",
                        help="for every row but refresh, which always runs on the Python load generator")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="our server's log level; INFO (the default) writes the access log")
    parser.add_argument("--user-token-format", choices=["opaque", "jwt"], default="opaque",
                        help="our portal client's access tokens (default opaque, like the peer's userinfo tokens; "
                        "jwt is our default for new clients)")
    parser.add_argument("--node", default="node", help="the Node.js binary for the peer (default: node on PATH)")
    parser.add_argument("--postgres-admin-url", default=DEFAULT_ADMIN_URL,
                        help="libpq URL allowed to CREATE/DROP DATABASE (default %(default)s)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="default %(default)s")
    parser.add_argument("--load", metavar="SPEC_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.runs <= 20 or not 0.5 <= args.seconds <= 60:
        parser.error("--runs must be 1..20 and --seconds 0.5..60 (the benchmark stays bounded)")
    if args.runs * args.seconds > MAX_MEASURED_SECONDS:
        parser.error(f"--runs × --seconds must stay ≤ {MAX_MEASURED_SECONDS}: the user access token measured by the "
                     "last rows lives 10 minutes on both sides")
    if args.load:
        python_load_main(Path(args.load))
    else:
        run(args)


if __name__ == "__main__":
    main()
