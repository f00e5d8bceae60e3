"""Failures look the same to everyone: a page with an error id, never a stack trace; readiness tells the
load balancer when a dependency is gone."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.testclient import TestClient

from servicekonto.app import create_app
from tests.conftest import make_settings


def _boom(request: Request) -> None:
    raise RuntimeError("secret internal detail /srv/app/foo.py")


def test_unexpected_error_shows_error_page_without_trace(client: TestClient) -> None:
    client.app.add_route("/boom", _boom)  # type: ignore[attr-defined]
    for language, title in (("de", "Interner Fehler"), ("en", "Internal error")):
        response = client.get("/boom", headers={"Accept-Language": language})
        assert response.status_code == 500
        assert title in response.text
        assert response.headers["x-request-id"] in response.text
        assert "Traceback" not in response.text and "secret internal detail" not in response.text
        assert "content-security-policy" in response.headers


def test_api_clients_get_problem_json(client: TestClient) -> None:
    response = client.get("/missing", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["error_id"] == response.headers["x-request-id"]


def test_readyz_is_503_when_redis_is_gone(tmp_path: Path, sqlite_url: str) -> None:
    from tests.conftest import _migrated

    settings = make_settings(tmp_path, database_url=_migrated(sqlite_url, {}),
                             redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "redis": "unavailable"}
    assert client.get("/healthz").status_code == 200


def test_hsts_only_over_https(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, database_url=sqlite_url, base_url="https://konto.example.de")
    with TestClient(create_app(settings), base_url="https://konto.example.de") as client:
        headers = client.get("/healthz").headers
    assert headers["strict-transport-security"].startswith("max-age=63072000")


def test_language_cookie_is_secure_over_https(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, database_url=sqlite_url, base_url="https://konto.example.de")
    with TestClient(create_app(settings), base_url="https://konto.example.de") as client:
        cookie = client.get("/sprache/en", follow_redirects=False).headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
