"""The web shell: start page in German and English, security headers, error pages, probes."""

from __future__ import annotations

import re

from starlette.testclient import TestClient


def test_start_page_speaks_german_by_default(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert '<html lang="de">' in response.text
    assert "Zum Hauptinhalt springen" in response.text


def test_accept_language_selects_english(client: TestClient) -> None:
    response = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9,de;q=0.5"})
    assert '<html lang="en">' in response.text
    assert "Skip to main content" in response.text


def test_language_switch_sets_cookie_and_returns_to_page(client: TestClient) -> None:
    response = client.get("/sprache/en?next=/barrierefreiheit", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/barrierefreiheit"
    page = client.get("/barrierefreiheit", headers={"Accept-Language": "de"})
    assert '<html lang="en">' in page.text


def test_language_switch_refuses_foreign_targets(client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        response = client.get("/sprache/en", params={"next": target}, follow_redirects=False)
        assert response.headers["location"] == "/"


def test_security_headers_on_every_page(client: TestClient) -> None:
    for path in ("/", "/does-not-exist", "/healthz"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in headers  # plain http in tests
        assert re.fullmatch(r"[0-9a-f]{12}", headers["x-request-id"])


def test_not_found_page_in_both_languages_with_error_id(client: TestClient) -> None:
    german = client.get("/gibt-es-nicht")
    assert german.status_code == 404
    assert "Seite nicht gefunden" in german.text
    assert german.headers["x-request-id"] in german.text
    english = client.get("/gibt-es-nicht", headers={"Accept-Language": "en"})
    assert "Page not found" in english.text


def test_method_not_allowed_page(client: TestClient) -> None:
    response = client.delete("/")
    assert response.status_code == 405
    assert 'data-message-id="error.405"' in response.text


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"


def test_metrics_count_requests_by_route(client: TestClient) -> None:
    client.get("/")
    body = client.get("/metrics").text
    assert 'servicekonto_http_requests_total{method="GET",route="/",status="200"}' in body


def test_the_route_index_answers_as_the_route_list_would(client: TestClient) -> None:
    from starlette.routing import Match, Router

    router = client.app.router  # type: ignore[attr-defined]
    plain = Router(routes=router.routes)
    for path, route in router.fixed.items():
        probe = {"type": "http", "path": path, "root_path": "", "method": "GET"}
        first = next(r for r in plain.routes if r.matches(probe)[0] is not Match.NONE)
        assert first is route, path
    assert client.post("/jwks").status_code == 405
    assert client.get("/oidc/token").status_code == 405
    assert client.get("/healthz/").status_code in {200, 307}
