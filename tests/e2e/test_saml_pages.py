"""SAML pages in Chromium: an SP-initiated login (a signed AuthnRequest over HTTP-Redirect, from an SP that the
operator registered with `servicekonto saml-sp add`) through the login and consent pages to the HTTP-POST
binding page, whose form goes to the SP's assertion consumer service — a small HTTP server of the test that
records what arrives. The consent page and the POST page pass axe-core; the POST page sends itself where
JavaScript runs and works without it through its visible "Weiter / Continue" button."""

from __future__ import annotations

import base64
import re
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from lxml import etree
from playwright.sync_api import expect

from tests.e2e.test_demo_portal import PASSWORD, create_citizen
from tests.interop.harness import servicekonto_json
from tests.support.axe import assert_accessible
from tests.support.browser import PageFactory
from tests.support.saml import POST, acs, authn_request_xml, b64, key_pair, redirect_query, sp_metadata
from tests.support.server import LiveServer
from tests.support.smtp_sink import SmtpSink

pytestmark = pytest.mark.e2e

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"


class _AcsHandler(BaseHTTPRequestHandler):
    server: _AcsServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        fields = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
        with self.server.lock:
            self.server.received.append((self.path, fields))
        body = (b'<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Musterportal</title></head>'
                b"<body><main><h1>Angemeldet</h1></main></body></html>")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads what arrived from `received`."""


class _AcsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _AcsHandler)
        self.lock = threading.Lock()
        self.received: list[tuple[str, dict[str, str]]] = []
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}"

    def posts(self) -> list[tuple[str, dict[str, str]]]:
        with self.lock:
            return list(self.received)


@pytest.fixture
def acs_server() -> Iterator[_AcsServer]:
    server = _AcsServer()
    thread = threading.Thread(target=server.serve_forever, name="saml-acs", daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def saml_portal(live_server: LiveServer, acs_server: _AcsServer, tmp_path: Path) -> str:
    """An SP on the ACS server's origin, with a signing and an encryption key of its own, registered by the
    operator's command line for a new tenant; its entityID."""
    entity_id = f"{acs_server.base_url}/saml/metadata"
    keys = "".join(
        f'<md:KeyDescriptor use="{use}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{b64(cert)}'
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        for use, cert in (("signing", key_pair("e2e-sp-signing")[1]), ("encryption", key_pair("e2e-sp-enc")[1])))
    metadata = sp_metadata(entity_id, keys=keys, endpoints=acs(f"{acs_server.base_url}/saml/acs", POST, 0, True),
                           organisation="")
    (tmp_path / "sp.xml").write_bytes(metadata)
    tenant = servicekonto_json(live_server, "tenant", "create", "--name", f"SAML e2e {secrets.token_hex(3)}")
    added = servicekonto_json(live_server, "saml-sp", "add", "--tenant", str(tenant["id"]),
                              "--metadata", str(tmp_path / "sp.xml"))
    assert added["entity_id"] == entity_id
    return entity_id


def login_url(live_server: LiveServer, entity_id: str, acs_url: str, request_id: str) -> str:
    """The SP's signed AuthnRequest as an HTTP-Redirect URL to our SSO endpoint."""
    xml = authn_request_xml(request_id=request_id, issuer=entity_id, issue_instant=datetime.now(UTC),
                            destination=live_server.url("/saml/sso"), acs_url=acs_url, protocol_binding=POST)
    query = redirect_query(xml, relay_state="antrag-7", key=key_pair("e2e-sp-signing"))
    return live_server.url("/saml/sso?" + query)


@pytest.mark.parametrize("mode", ["javascript", "script-blocked", "no-javascript"])
def test_sp_initiated_login_pages_are_accessible(new_page: PageFactory, live_server: LiveServer,
                                                 smtp_sink: SmtpSink, acs_server: _AcsServer, saml_portal: str,
                                                 mode: str) -> None:
    """`javascript`: the POST page sends itself. `script-blocked`: scripts run but autosubmit.js does not
    arrive, so the page stays for axe-core (axe needs scripts; with JavaScript off its run never ends) and the
    button sends it. `no-javascript`: the button sends it."""
    citizen = create_citizen(live_server, smtp_sink)
    request_id = "_" + secrets.token_hex(16)
    acs_url = f"{acs_server.base_url}/saml/acs"
    page = new_page(java_script_enabled=mode != "no-javascript")
    if mode == "script-blocked":
        page.route("**/static/autosubmit.js", lambda route: route.abort())
    page.goto(login_url(live_server, saml_portal, acs_url, request_id))
    expect(page).to_have_url(re.compile(r"/anmelden"))
    page.locator("input[name=identifier]").fill(citizen.username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/anmeldung/"))
    if mode != "no-javascript":
        assert_accessible(page, context="SAML consent page")
    page.locator("button[name=decision][value=allow]").click()
    if mode != "javascript":
        button = page.get_by_role("button", name="Weiter / Continue")
        expect(button).to_be_visible()
        expect(page).to_have_title("Weiter zum Onlinedienst")
        if mode == "script-blocked":
            assert_accessible(page, context="SAML HTTP-POST binding page")
        assert acs_server.posts() == []  # nothing goes to the SP until the citizen presses the button
        button.click()
    expect(page.get_by_role("heading", name="Angemeldet")).to_be_visible()
    assert page.url == acs_url
    [(path, fields)] = acs_server.posts()
    assert path == "/saml/acs" and fields["RelayState"] == "antrag-7"
    response = etree.fromstring(base64.b64decode(fields["SAMLResponse"]))
    assert response.tag == f"{{{SAMLP}}}Response"
    assert response.get("InResponseTo") == request_id and response.get("Destination") == acs_url
    status = response.find(f"{{{SAMLP}}}Status/{{{SAMLP}}}StatusCode")
    assert status is not None and status.get("Value") == SUCCESS
