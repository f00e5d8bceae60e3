"""Hostile or broken requests get a clean answer: no 500, no reflection, no redirect off-site."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient


@pytest.mark.parametrize("header", [
    "lang=<script>", "lang=en; lang=de", "=;;;=", "lang=" + "x" * 5000, "\x00lang=en", 'lang="en',
])
def test_malformed_cookies_do_not_break_pages(client: TestClient, header: str) -> None:
    response = client.get("/", headers={"Cookie": header})
    assert response.status_code == 200
    assert "<script>" not in response.text.split("</head>")[1]


@pytest.mark.parametrize("value", ["*", "de-DE;q=x", "en;q=1e309", ",,,", "ü" * 10, "en;" * 500])
def test_odd_accept_language_is_tolerated(client: TestClient, value: str) -> None:
    response = client.get("/", headers={"Accept-Language": value.encode("utf-8")})
    assert response.status_code == 200


def test_unknown_language_in_switch_changes_nothing(client: TestClient) -> None:
    response = client.get("/sprache/xx", follow_redirects=False)
    assert response.status_code == 303
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("target", [
    "/%0d%0aSet-Cookie:%20x=y", "/\t/evil.example", "https:evil.example", "/" + "a" * 10000,
])
def test_switch_targets_cannot_inject_headers(client: TestClient, target: str) -> None:
    response = client.get("/sprache/en", params={"next": target}, follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert "\r" not in location and "\n" not in location
    assert location.startswith("/") and not location.startswith("//")


def test_path_reflection_is_escaped(client: TestClient) -> None:
    response = client.get("/<script>alert(1)</script>")
    assert response.status_code == 404
    assert "<script>alert(1)</script>" not in response.text


def test_static_files_cannot_escape_their_folder(client: TestClient) -> None:
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fsettings.py"):
        assert client.get(path).status_code == 404
