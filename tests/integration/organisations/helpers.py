"""People with their own browsers (TestClients on one app), an organisation built through its pages, and the
page forms to post to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.testclient import TestClient

from servicekonto.domain.trust import TrustLevel
from servicekonto.settings import Settings
from servicekonto.web.session_context import SESSION_COOKIE
from tests.integration.accounts.helpers import CSRF, form_action, register_and_verify
from tests.support.outbox import last_link

ORGANISATION = {
    "name": "Muster & Söhne GmbH", "legal_form": "GmbH", "register_type": "HRB", "register_court": "Amtsgericht Köln",
    "register_number": "HRB 12345", "street_address": "Heidestraße 17", "postal_code": "51147",
    "locality": "Köln", "country": "DE", "contact_email": "info@muster.example", "contact_phone": "0221 123456",
}
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@dataclass
class Person:
    client: TestClient
    username: str
    email: str
    account_id: str

    def csrf(self) -> str:
        found = CSRF.search(self.client.get("/konto/organisationen").text)
        assert found
        return found.group(1)

    def post(self, path: str, data: dict[str, str] | None = None) -> Any:
        """A form POST with this person's CSRF token, as a page of the organisation would send it."""
        return self.client.post(path, data={**(data or {}), "csrf_token": self.csrf()}, follow_redirects=False)


def person(client: TestClient, container: Any, settings: Settings, username: str, *,
           level: TrustLevel = TrustLevel.HIGH, email: str | None = None) -> Person:
    """A registered account logged in on its own browser (a session as the login pages issue it; level 4 as
    after a login with the ID card)."""
    browser = TestClient(client.app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False)
    address = email or f"{username}@example.de"
    register_and_verify(browser, settings.data_dir / "outbox", username=username, email=address)
    account = container.account_repository.find_by_login(username)
    assert account is not None
    session = container.sessions.create(account, level=level, methods=["eid"] if level > TrustLevel.LOW else ["pwd"])
    browser.cookies.set(SESSION_COOKIE, session.id, domain="127.0.0.1")
    return Person(browser, username, address, account.id)


def create_organisation(founder: Person, **changes: str) -> str:
    page = founder.client.get("/konto/organisationen/neu")
    action, token = form_action(page.text, "/konto/organisationen/neu")
    answer = founder.client.post(action, data={**ORGANISATION, **changes, "csrf_token": token},
                                 follow_redirects=False)
    assert answer.status_code == 303, answer.text
    found = re.search(rf"/konto/organisationen/({UUID})\?hinweis=created", answer.headers["location"])
    assert found
    return found.group(1)


def invite(admin: Person, organisation_id: str, invitee: Person, settings: Settings, role: str = "member") -> str:
    """The invitation link as the mail carries it."""
    sent = admin.post(f"/konto/organisationen/{organisation_id}/einladen", {"email": invitee.email, "role": role})
    assert sent.status_code == 303, sent.text
    return last_link(settings.data_dir / "outbox", to=invitee.email, containing="/konto/organisationen/einladung/")


def accept(invitee: Person, link: str) -> Any:
    path = link.split("127.0.0.1:8000", 1)[1]
    page = invitee.client.get(path)
    assert page.status_code == 200, page.text
    action, token = form_action(page.text, "/konto/organisationen/einladung/")
    return invitee.client.post(action, data={"csrf_token": token}, follow_redirects=False)


def member_of(admin: Person, organisation_id: str, invitee: Person, settings: Settings, role: str = "member") -> None:
    answer = accept(invitee, invite(admin, organisation_id, invitee, settings, role))
    assert answer.status_code == 303 and answer.headers["location"].endswith("hinweis=joined"), answer.text
