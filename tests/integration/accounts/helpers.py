"""Driving the citizen pages through HTTP as a browser would: GET the form, read its action and CSRF
token, POST it."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from starlette.testclient import TestClient

from tests.support.outbox import last_link

FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', re.S)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "Heidestr17Köln!"


def form_action(html: str, path_prefix: str) -> tuple[str, str]:
    """The action and CSRF token of the page's form that posts to `path_prefix`."""
    for action, body in FORM.findall(html):
        if action.startswith(path_prefix):
            token = CSRF.search(body)
            assert token, "form without CSRF token"
            return action.replace("&amp;", "&"), token.group(1)
    raise AssertionError(f"no form posting to {path_prefix}")


def submit(client: TestClient, page: str, data: dict[str, str], *, action_prefix: str | None = None,
           follow: bool = False):  # type: ignore[no-untyped-def]
    html = client.get(page).text
    action, token = form_action(html, action_prefix or urlsplit(page).path)
    return client.post(action, data={**data, "csrf_token": token}, follow_redirects=follow)


def register(client: TestClient, *, username: str = "erika", email: str = "erika@example.de",
             password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return submit(client, "/registrieren", {"username": username, "email": email, "password": password,
                                            "password_repeat": password, "accept_terms": "yes"})


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def confirm_link(client: TestClient, link: str, action_prefix: str):  # type: ignore[no-untyped-def]
    page = client.get(path_of(link))
    action, token = form_action(page.text, action_prefix)
    hidden = re.search(r'name="token" value="([^"]+)"', page.text)
    assert hidden
    return client.post(action, data={"token": hidden.group(1), "csrf_token": token}, follow_redirects=False)


def register_and_verify(client: TestClient, outbox: Path, **kwargs: str) -> None:
    register(client, **kwargs)
    link = last_link(outbox, to=kwargs.get("email", "erika@example.de"), containing="/registrieren/bestaetigen")
    response = confirm_link(client, link, "/registrieren/bestaetigen")
    assert response.status_code == 303


def login(client: TestClient, identifier: str = "erika", password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return submit(client, "/anmelden", {"identifier": identifier, "password": password})
