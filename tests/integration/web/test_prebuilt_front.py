"""Discovery and JWKS answered in front of the middleware stack: the same status, body and headers as the
stack gives them (security headers, request id, Vary, Cache-Control), counted in the metrics."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from servicekonto.web.prebuilt import PrebuiltFront

PATHS = ["/jwks", "/.well-known/openid-configuration"]


def _front(client: TestClient) -> PrebuiltFront:
    client.get("/healthz")  # Starlette builds its middleware stack at the first request
    layer: Any = client.app.middleware_stack  # type: ignore[attr-defined]
    while not isinstance(layer, PrebuiltFront):
        layer = layer.app
    return layer


def _comparable(response: Any) -> tuple[int, bytes, dict[str, str]]:
    headers = dict(response.headers)
    assert re.fullmatch(r"[0-9a-f]{12}", headers.pop("x-request-id"))
    headers.pop("date", None)
    return response.status_code, response.content, headers


@pytest.mark.parametrize("path", PATHS)
def test_front_answers_as_the_stack_would(client: TestClient, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    front = _front(client)
    assert path in front.documents
    served = _comparable(client.get(path))
    head = client.head(path)
    monkeypatch.setattr(front, "documents", {})
    assert _comparable(client.get(path)) == served
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(served[1]))
    assert served[2]["content-security-policy"].startswith("default-src 'none'")
    assert served[2]["vary"] == "Accept-Language, Cookie"


def test_front_answers_are_counted(client: TestClient) -> None:
    client.get("/jwks")
    assert 'servicekonto_http_requests_total{method="GET",route="/jwks",status="200"}' in client.get("/metrics").text


def test_other_methods_and_paths_go_through_the_stack(client: TestClient) -> None:
    assert client.post("/jwks").status_code == 405
    assert client.get("/jwks/", follow_redirects=False).status_code == 307  # the router's slash redirect
