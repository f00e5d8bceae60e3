"""OpenID Connect interop: complete logins against our provider by openid-client (panva's OpenID Certified
relying-party library from npm, used unmodified as a portal uses it), through the real pages in Chromium.

The library does what a portal's backend does: discovery, the authorization URL (PKCE S256, state, nonce),
the code grant with its own checks (state and `iss` of the response, PKCE, the ID token's ES256 signature
against the JWKS, iss, aud, nonce, exp), userinfo against the ID token's subject, refresh, revocation,
introspection and RP-initiated logout. Python registers the tenant and clients with the command line, makes a
citizen, drives the browser through login and consent (`tests/interop/harness.py` has the pieces) and asserts
on what the library reports.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.interop.harness import BrowserTab, Citizen, OpenIdClient, Portal, RegisteredClient
from tests.support.axe import assert_accessible
from tests.support.server import LiveServer, free_port

pytestmark = pytest.mark.e2e

ENDPOINTS = {
    "authorization_endpoint": "/oidc/authorize",
    "token_endpoint": "/oidc/token",
    "userinfo_endpoint": "/oidc/userinfo",
    "jwks_uri": "/jwks",
    "revocation_endpoint": "/oidc/revoke",
    "introspection_endpoint": "/oidc/introspect",
    "end_session_endpoint": "/oidc/logout",
}
PSEUDONYM = re.compile(r"[A-Za-z0-9_-]{43}")  # 256 bits, base64url without padding
PASSWORD_LEVEL = "STORK-QAA-Level-1"  # a password login reaches trust level 1; STORK is the default vocabulary
LOGIN_LABELS = {"identifier": "Benutzername oder E-Mail-Adresse", "password": "Passwort", "submit": "Anmelden"}
ALLOW = 'button[name="decision"][value="allow"]'
DENY = 'button[name="decision"][value="deny"]'
ES256 = {"id_token_signed_response_alg": "ES256"}  # the registered default; openid-client then insists on it

NewTab = Callable[..., BrowserTab]
NewDriver = Callable[[str], OpenIdClient]
NewClient = Callable[..., RegisteredClient]


# ------------------------------------------------------- steps in the browser (run on its thread: tab.run)


def arrive(page: Page, prefix: str, action: Callable[[], object]) -> str:
    """Do `action` and wait until the browser is on `prefix` (a portal's URI, with or without a query): the
    URL it got there. On a timeout the message tells where it stayed and what the console said (a Content
    Security Policy that blocks the form's redirect to the portal shows up there)."""
    console: list[str] = []

    def listen(message: ConsoleMessage) -> None:
        console.append(message.text)

    page.on("console", listen)
    try:
        action()
        page.wait_for_url(lambda url: url == prefix or url.startswith(prefix + "?"))
    except PlaywrightTimeout:
        said = "".join(f"\n  console: {text}" for text in console)
        raise AssertionError(f"the browser did not get to {prefix}; it is on {page.url}{said}") from None
    finally:
        page.remove_listener("console", listen)
    return page.url


def visit(page: Page, url: str, prefix: str) -> str:
    """Open `url` and follow the provider's redirects to `prefix`."""
    return arrive(page, prefix, lambda: page.goto(url))


def log_in(page: Page, authorization_url: str, citizen: Citizen) -> None:
    """The portal sends the browser to the provider; without a session it lands on the login page."""
    page.goto(authorization_url)
    expect(page).to_have_url(re.compile(r"/anmelden(\?|$)"))
    page.get_by_label(LOGIN_LABELS["identifier"]).fill(citizen.username)
    page.get_by_label(LOGIN_LABELS["password"], exact=True).fill(citizen.password)
    page.get_by_role("button", name=LOGIN_LABELS["submit"], exact=True).click()


def consent(page: Page, redirect_uri: str, *, service: str, check_accessibility: bool = False) -> str:
    """On the consent page, which names the service that asks, allow the transfer: back at the portal."""
    allow = page.locator(ALLOW)
    expect(allow).to_be_visible()
    expect(page.locator(DENY)).to_be_visible()
    expect(page.locator("main")).to_contain_text(service)
    if check_accessibility:
        assert_accessible(page, context="consent page")
    return arrive(page, redirect_uri, allow.click)


def log_in_and_return(page: Page, authorization_url: str, citizen: Citizen, redirect_uri: str) -> str:
    """A login for a portal the citizen has consented to before: from the login form straight back."""
    return arrive(page, redirect_uri, lambda: log_in(page, authorization_url, citizen))


def go(page: Page, url: str) -> None:
    """Open `url`; the provider's pages take it from there."""
    page.goto(url)


def open_path(page: Page, url: str) -> str:
    """Open `url`; the path the browser ends on."""
    page.goto(url)
    return urlsplit(page.url).path


# ---------------------------------------------------------------------------------------------- assertions


def check_discovery(discovered: dict[str, Any], server: LiveServer) -> dict[str, Any]:
    metadata: dict[str, Any] = discovered["server"]
    assert metadata["issuer"] == server.base_url
    for name, path in ENDPOINTS.items():
        assert metadata.get(name) == server.url(path), name
    assert discovered["supports_pkce"] is True, "code_challenge_methods_supported must list S256"
    assert "code" in metadata["response_types_supported"]
    assert "pairwise" in metadata["subject_types_supported"]
    assert "ES256" in metadata["id_token_signing_alg_values_supported"]
    assert metadata.get("authorization_response_iss_parameter_supported") is True  # RFC 9207
    return metadata


def authorization_response(url: str, *, state: str, issuer: str) -> dict[str, list[str]]:
    """The query the portal got: a code, our state and the provider's `iss` (RFC 9207), nothing of an error."""
    query = parse_qs(urlsplit(url).query)
    assert "error" not in query, query
    assert len(query.get("code", [])) == 1, query
    assert query.get("state") == [state]
    assert query.get("iss") == [issuer]
    return query


def check_tokens(tokens: dict[str, Any], *, issuer: str, client: RegisteredClient, nonce: str,
                 logged_in_after: float) -> dict[str, Any]:
    """openid-client has checked the ID token already (ES256 signature against the JWKS, iss, aud, exp,
    nonce); here its claims are read against our contract as well."""
    header: dict[str, Any] = tokens["id_token_header"]
    claims: dict[str, Any] = tokens["claims"]
    assert header["alg"] == "ES256" and header.get("kid"), header
    assert claims["iss"] == issuer
    assert claims["aud"] in (client.client_id, [client.client_id])
    assert claims["nonce"] == nonce
    assert PSEUDONYM.fullmatch(claims["sub"]), f"sub {claims['sub']!r} is not a 43-character base64url pseudonym"
    assert claims["acr"] == PASSWORD_LEVEL
    assert "pwd" in claims["amr"]
    assert logged_in_after - 5 <= claims["auth_time"] <= time.time() + 5
    assert claims["iat"] <= time.time() + 5 and claims["exp"] > time.time()
    assert tokens["token_type"].lower() == "bearer"
    assert tokens["access_token"] and tokens["refresh_token"]
    granted = set((tokens["scope"] or " ".join(client.scopes)).split())  # omitted: as requested (RFC 6749 §5.1)
    assert granted == set(client.scopes)
    return claims


def invalid_token(refusal: dict[str, Any]) -> bool:
    """A 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3.1), as openid-client saw it."""
    return refusal.get("status") == 401 and any(
        challenge["scheme"].lower() == "bearer" and challenge["parameters"].get("error") == "invalid_token"
        for challenge in refusal.get("challenges", []))


# ---------------------------------------------------------------------------------------------------- tests


def test_confidential_portal_logs_in_refreshes_revokes_and_logs_out(
        live_server: LiveServer, portal: Portal, oidc_client: NewClient, citizen: Citizen,
        relying_party: NewDriver, new_tab: NewTab) -> None:
    issuer = live_server.base_url
    client = oidc_client(name="Bürgerportal Musterstadt", scopes=("openid", "profile", "email"))
    assert client.client_secret, "a confidential client gets a secret"
    rp = relying_party("confidential")
    metadata = check_discovery(rp.call("discover", issuer=issuer, client_id=client.client_id,
                                       client_secret=client.client_secret, auth="client_secret_basic",
                                       metadata=ES256), live_server)
    assert "client_secret_basic" in metadata.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])

    started = time.time()
    request = rp.call("authorization_url", redirect_uri=portal.redirect_uri, scope="openid profile email")
    tab = new_tab()
    tab.run(log_in, request["url"], citizen)
    landed = tab.run(consent, portal.redirect_uri, service=client.name, check_accessibility=True)
    callback = portal.received(Portal.CALLBACK)[-1]
    assert landed == callback
    authorization_response(callback, state=request["state"], issuer=issuer)

    tokens = rp.call("callback", url=callback)
    claims = check_tokens(tokens, issuer=issuer, client=client, nonce=request["nonce"], logged_in_after=started)

    userinfo = rp.call("userinfo")["claims"]  # openid-client insists on the ID token's subject
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["email"] == citizen.email and userinfo.get("email_verified") is True
    assert (userinfo["given_name"], userinfo["family_name"]) == (citizen.given_name, citizen.family_name)

    active = rp.call("introspect", which="access")
    assert active["active"] is True
    assert active["client_id"] == client.client_id
    assert active.get("sub", claims["sub"]) == claims["sub"]  # if named, the pseudonym, never an account id

    refreshed = rp.call("refresh")
    assert refreshed["access_token"] and refreshed["access_token"] != tokens["access_token"]
    if refreshed["claims"]:  # an ID token on refresh names the same person (OIDC Core §12.2)
        assert refreshed["claims"]["sub"] == claims["sub"]
    assert rp.call("userinfo")["claims"]["sub"] == claims["sub"]

    rp.call("revoke", which="access")
    assert rp.call("introspect", which="access")["active"] is False
    refusal = rp.refused("userinfo")
    assert invalid_token(refusal), refusal

    rp.call("revoke", which="refresh")
    assert rp.call("introspect", which="refresh")["active"] is False
    assert rp.refused("refresh")["error"] == "invalid_grant"

    logout = rp.call("end_session_url", post_logout_redirect_uri=portal.post_logout_redirect_uri)
    assert logout["url"].startswith(live_server.url("/oidc/logout?"))
    back = tab.run(visit, logout["url"], portal.post_logout_redirect_uri)
    assert parse_qs(urlsplit(back).query).get("state") == [logout["state"]]
    assert portal.received(Portal.LOGGED_OUT) == [back]
    assert tab.run(open_path, live_server.url("/konto")) == "/anmelden", "the login session must have ended"

    # The next visit: a new login, no consent page (it is remembered), and the same pseudonym.
    request = rp.call("authorization_url", redirect_uri=portal.redirect_uri, scope="openid profile email")
    callback = tab.run(log_in_and_return, request["url"], citizen, portal.redirect_uri)
    authorization_response(callback, state=request["state"], issuer=issuer)
    again = rp.call("callback", url=callback)["claims"]
    assert again["sub"] == claims["sub"]
    assert again["auth_time"] >= claims["auth_time"] and again["nonce"] == request["nonce"]


def test_public_client_needs_pkce_and_gets_only_the_pseudonym(
        live_server: LiveServer, portal: Portal, oidc_client: NewClient, citizen: Citizen,
        relying_party: NewDriver, new_tab: NewTab) -> None:
    issuer = live_server.base_url
    client = oidc_client(name="Musterstadt-App", scopes=("openid",), public=True)
    assert client.client_secret is None, "a public client has no secret"
    rp = relying_party("public")
    metadata = check_discovery(rp.call("discover", issuer=issuer, client_id=client.client_id, auth="none",
                                       metadata=ES256), live_server)
    assert "none" in metadata["token_endpoint_auth_methods_supported"]
    tab = new_tab()

    # Without PKCE the portal gets an error, before anybody logs in (RFC 7636 §4.4.1), and openid-client
    # reports it as such.
    bare = rp.call("authorization_url", redirect_uri=portal.redirect_uri, scope="openid", pkce=False)
    assert "code_challenge" not in parse_qs(urlsplit(bare["url"]).query)
    refused_at = tab.run(visit, bare["url"], portal.redirect_uri)
    assert "code" not in parse_qs(urlsplit(refused_at).query)
    refusal = rp.refused("callback", url=refused_at)
    assert (refusal["name"], refusal["error"]) == ("AuthorizationResponseError", "invalid_request"), refusal

    started = time.time()
    request = rp.call("authorization_url", redirect_uri=portal.redirect_uri, scope="openid")
    tab.run(log_in, request["url"], citizen)
    callback = tab.run(consent, portal.redirect_uri, service=client.name)
    authorization_response(callback, state=request["state"], issuer=issuer)
    tokens = rp.call("callback", url=callback)
    claims = check_tokens(tokens, issuer=issuer, client=client, nonce=request["nonce"], logged_in_after=started)
    assert set(rp.call("userinfo")["claims"]) == {"sub"}, "scope openid releases the pseudonym and nothing else"

    # A public client's refresh tokens rotate, and a used one is refused (RFC 9700 §2.2.2, §4.14.2).
    refreshed = rp.call("refresh")
    assert refreshed["refresh_token"] and refreshed["refresh_token"] != tokens["refresh_token"]
    assert rp.call("userinfo")["claims"]["sub"] == claims["sub"]
    rp.call("revoke", which="access")  # client_id in the body, no secret
    refusal = rp.refused("userinfo")
    assert invalid_token(refusal), refusal
    assert rp.refused("refresh", refresh_token=tokens["refresh_token"])["error"] == "invalid_grant"

    logout = rp.call("end_session_url", post_logout_redirect_uri=portal.post_logout_redirect_uri)
    back = tab.run(visit, logout["url"], portal.post_logout_redirect_uri)
    assert parse_qs(urlsplit(back).query).get("state") == [logout["state"]]
    assert tab.run(open_path, live_server.url("/konto")) == "/anmelden", "the login session must have ended"


def test_portals_on_two_hosts_see_two_pseudonyms_and_one_login(
        live_server: LiveServer, new_portal: Callable[..., Portal], oidc_client: NewClient, citizen: Citizen,
        relying_party: NewDriver, new_tab: NewTab) -> None:
    """Pairwise subjects (OIDC Core §8.1): the sector is the host of the redirect URIs. The second portal finds
    the login session (no login page, only its consent); the first, asked again, remembers the consent."""
    issuer = live_server.base_url
    town_portal, county_portal = new_portal("127.0.0.1"), new_portal("localhost")
    town = oidc_client(name="Stadtportal", scopes=("openid",), at=town_portal)
    county = oidc_client(name="Kreisportal", scopes=("openid",), at=county_portal)
    town_rp, county_rp = relying_party("town"), relying_party("county")
    for rp, client in ((town_rp, town), (county_rp, county)):
        rp.call("discover", issuer=issuer, client_id=client.client_id, client_secret=client.client_secret,
                metadata=ES256)
    tab = new_tab()

    request = town_rp.call("authorization_url", redirect_uri=town_portal.redirect_uri, scope="openid")
    tab.run(log_in, request["url"], citizen)
    callback = tab.run(consent, town_portal.redirect_uri, service=town.name)
    authorization_response(callback, state=request["state"], issuer=issuer)
    town_sub = town_rp.call("callback", url=callback)["claims"]["sub"]

    request = county_rp.call("authorization_url", redirect_uri=county_portal.redirect_uri, scope="openid")
    tab.run(go, request["url"])  # logged in already: straight to the consent page
    callback = tab.run(consent, county_portal.redirect_uri, service=county.name)
    authorization_response(callback, state=request["state"], issuer=issuer)
    county_sub = county_rp.call("callback", url=callback)["claims"]["sub"]

    assert PSEUDONYM.fullmatch(town_sub) and PSEUDONYM.fullmatch(county_sub), (town_sub, county_sub)
    assert town_sub != county_sub, "two hosts, two sectors: two pseudonyms"

    request = town_rp.call("authorization_url", redirect_uri=town_portal.redirect_uri, scope="openid")
    callback = tab.run(visit, request["url"], town_portal.redirect_uri)  # consent remembered: straight back
    authorization_response(callback, state=request["state"], issuer=issuer)
    assert town_rp.call("callback", url=callback)["claims"]["sub"] == town_sub, "the pseudonym is stable"


def test_driver_reports_bad_requests_as_errors(relying_party: NewDriver) -> None:
    """The driver's own plumbing: every answer is data, a broken request included."""
    rp = relying_party("plumbing")
    assert rp.refused("userinfo") == {"name": "ProtocolError", "message": 'run "discover" first'}
    assert rp.refused("frobnicate")["message"] == 'unknown command "frobnicate"'
    unreachable = rp.refused("discover", issuer=f"http://127.0.0.1:{free_port()}", client_id="x")
    assert unreachable["name"] == "TypeError" and unreachable["cause"]["code"] == "ECONNREFUSED", unreachable
