"""Acting for an organisation (issue #10) through OpenID Connect, on both stacks: the choice after the login,
the organisation's pseudonym and data and the person's roles in userinfo; a member can never act for an
organisation it does not belong to; a removed member can no longer act for it, nor use a grant that did."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.testclient import TestClient

from servicekonto.domain.attributes import AttributeSource
from servicekonto.domain.organisations import Organisation, OrganisationRole
from servicekonto.persistence.organisations import SqlOrganisationRepository
from servicekonto.persistence.transfers import SqlTransferLog
from servicekonto.settings import Settings
from tests.integration.accounts.helpers import form_action, register_and_verify
from tests.integration.oidc.helpers import (
    REDIRECT_URI,
    authorize_params,
    follow_to_portal,
    pkce,
    register_portal,
    token_request,
)

SCOPES = ("openid", "email", "organisation")  # a client registered for organisation logins
ORGANISATION_ONLY = json.dumps({"userinfo": {"organisation": {"essential": True}}})


def organisation(container: Any, founder_id: str, name: str = "Musterbau GmbH") -> Organisation:
    created = Organisation(
        id=str(uuid.uuid4()), name=name, legal_form="GmbH", register_type="HRB", register_court="Amtsgericht Köln",
        register_number="12345", street_address="Hauptstraße 1", postal_code="50667", locality="Köln", country="DE",
        contact_email="info@musterbau.example", contact_phone=None, source=AttributeSource.SELF_DECLARED,
        created_at=datetime.now(UTC))
    SqlOrganisationRepository(container.database).add(created, founder_id=founder_id)
    return created


def erika(client: TestClient, settings: Settings, container: Any) -> str:
    register_and_verify(client, settings.data_dir / "outbox")
    account = container.account_repository.find_by_login("erika")
    assert account is not None
    return str(account.id)


def start(client: TestClient, portal: Any, **extra: str) -> tuple[Any, str]:
    verifier, challenge = pkce()
    response = client.get("/oidc/authorize", params=authorize_params(portal, challenge, **extra),
                          follow_redirects=False)
    return response, verifier


def to_chooser(client: TestClient, response: Any) -> Any:
    """Log in (the helper's password login) and stop at the "acting for" page."""
    for _ in range(8):
        if response.status_code == 200 and ('name="acting_for"' in response.text
                                            or "acting_for.no_organisation" in response.text):
            return response
        location = response.headers.get("location", "")
        if location.startswith("/anmelden"):
            page = client.get(location)
            action, token = form_action(page.text, "/anmelden")
            response = client.post(action, data={"identifier": "erika", "password": "Heidestr17Köln!",
                                                 "csrf_token": token}, follow_redirects=False)
            continue
        assert response.status_code in (302, 303), response.text[:300]
        response = client.get(location, follow_redirects=False)
    raise AssertionError("no chooser")


def choose(client: TestClient, page: Any, value: str, decision: str = "act") -> Any:
    action, token = form_action(page.text, "/anmeldung/")
    return client.post(action, data={"decision": decision, "acting_for": value, "csrf_token": token},
                       follow_redirects=False)


def userinfo(client: TestClient, portal: Any, callback: dict[str, str], verifier: str) -> tuple[dict[str, Any], Any]:
    tokens = token_request(client, portal, {"grant_type": "authorization_code", "code": callback["code"],
                                            "redirect_uri": portal.redirect_uri, "code_verifier": verifier})
    assert tokens.status_code == 200, tokens.text
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"})
    assert info.status_code == 200, info.text
    return info.json(), tokens.json()


def test_a_member_acts_for_the_organisation_and_the_portal_gets_both_pseudonyms_and_the_roles(
        client: TestClient, settings: Settings, container: Any) -> None:
    account_id = erika(client, settings, container)
    portal = register_portal(container, scopes=SCOPES)
    org = organisation(container, account_id)
    SqlOrganisationRepository(container.database).set_service_roles(
        org.id, account_id, frozenset({(portal.client_id, "antragsteller"), ("other-service", "chef")}))
    response, verifier = start(client, portal, scope="openid email organisation")
    page = to_chooser(client, response)
    assert "Musterbau GmbH" in page.text and 'value="self"' in page.text
    callback = follow_to_portal(client, choose(client, page, org.id))
    body, _ = userinfo(client, portal, callback, verifier)
    organisation_claim = body["organisation"]
    assert len(organisation_claim["id"]) == 43 and organisation_claim["id"] != body["sub"]
    assert organisation_claim["name"] == "Musterbau GmbH" and organisation_claim["legal_form"] == "GmbH"
    assert organisation_claim["register"] == {"type": "HRB", "court": "Amtsgericht Köln", "number": "12345"}
    assert organisation_claim["address"] == {"street_address": "Hauptstraße 1", "postal_code": "50667",
                                             "locality": "Köln", "country": "DE"}
    assert organisation_claim["roles"] == ["admin", "antragsteller"]  # never another service's roles
    assert organisation_claim["verified"] is False
    assert body["email"] == "erika@example.de"  # the person's own data beside it, as consented
    [transfer], more = SqlTransferLog(container.database).of_organisation(org.id)  # the organisation's history
    assert not more and transfer.account_id == account_id and transfer.service_id == portal.client_id
    assert "org_pseudonym" in transfer.attributes and "email" in transfer.attributes

    # The next login may act for herself: no organisation claims then, the same person pseudonym.
    response, verifier = start(client, portal, scope="openid email organisation", prompt="login")
    page = to_chooser(client, response)
    callback = follow_to_portal(client, choose(client, page, "self"))
    own, _ = userinfo(client, portal, callback, verifier)
    assert "organisation" not in own and own["sub"] == body["sub"]


def test_a_member_can_never_act_for_an_organisation_it_does_not_belong_to(
        client: TestClient, settings: Settings, container: Any) -> None:
    account_id = erika(client, settings, container)
    portal = register_portal(container, scopes=SCOPES)
    mine = organisation(container, account_id)
    # Another organisation (founded by an account of its own) that erika is not a member of.
    foreign_account = _another_account(client, settings, container)
    foreign = organisation(container, foreign_account, name="Fremdfirma AG")
    response, verifier = start(client, portal, scope="openid organisation")
    page = to_chooser(client, response)
    assert "Fremdfirma" not in page.text
    refused = choose(client, page, foreign.id)
    assert refused.status_code == 400 and "acting_for.choose" in refused.text  # shown again, nothing chosen
    refused = choose(client, refused, "not-a-uuid")
    assert refused.status_code == 400
    callback = follow_to_portal(client, choose(client, refused, mine.id))
    body, _ = userinfo(client, portal, callback, verifier)
    assert body["organisation"]["name"] == "Musterbau GmbH"


def test_organisation_only_login_without_an_organisation_goes_back_with_access_denied(
        client: TestClient, settings: Settings, container: Any) -> None:
    erika(client, settings, container)
    portal = register_portal(container, scopes=SCOPES)
    response, _ = start(client, portal, scope="openid", claims=ORGANISATION_ONLY)
    page = to_chooser(client, response)
    assert "acting_for.no_organisation" in page.text and 'value="self"' not in page.text
    back = choose(client, page, "", decision="back")
    location = back.headers["location"]
    assert location.startswith(REDIRECT_URI)
    assert parse_qs(urlsplit(location).query)["error"] == ["access_denied"]


def test_organisation_only_hides_the_choice_of_oneself(client: TestClient, settings: Settings,
                                                       container: Any) -> None:
    account_id = erika(client, settings, container)
    portal = register_portal(container, scopes=SCOPES)
    org = organisation(container, account_id)
    response, verifier = start(client, portal, scope="openid", claims=ORGANISATION_ONLY)
    page = to_chooser(client, response)
    assert 'value="self"' not in page.text
    assert choose(client, page, "self").status_code == 400
    callback = follow_to_portal(client, choose(client, page, org.id))
    body, _ = userinfo(client, portal, callback, verifier)
    assert body["organisation"]["roles"] == ["admin"]


def test_a_removed_member_can_no_longer_act_for_the_organisation(client: TestClient, settings: Settings,
                                                                 container: Any) -> None:
    founder = _another_account(client, settings, container)
    account_id = erika(client, settings, container)
    org = organisation(container, founder)
    repository = SqlOrganisationRepository(container.database)
    assert repository.add_member(org.id, account_id, OrganisationRole.MEMBER, now=datetime.now(UTC))
    portal = register_portal(container, scopes=SCOPES)
    response, verifier = start(client, portal, scope="openid organisation")
    page = to_chooser(client, response)
    callback = follow_to_portal(client, choose(client, page, org.id))
    body, tokens = userinfo(client, portal, callback, verifier)
    assert body["organisation"]["roles"] == ["member"]

    assert repository.remove_member(org.id, account_id)
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401  # the grant acted for an organisation she left
    refreshed = token_request(client, portal, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    # A new login no longer offers it: she belongs to none, so she simply acts for herself.
    response, verifier = start(client, portal, scope="openid organisation", prompt="login")
    callback = follow_to_portal(client, response)
    own, _ = userinfo(client, portal, callback, verifier)
    assert "organisation" not in own


def test_a_choice_made_before_the_removal_is_asked_again(client: TestClient, settings: Settings,
                                                         container: Any) -> None:
    founder = _another_account(client, settings, container)
    account_id = erika(client, settings, container)
    repository = SqlOrganisationRepository(container.database)
    first, second = organisation(container, founder), organisation(container, founder, name="Zweite eG")
    for org in (first, second):
        assert repository.add_member(org.id, account_id, OrganisationRole.MEMBER, now=datetime.now(UTC))
    portal = register_portal(container, scopes=SCOPES)
    response, _ = start(client, portal, scope="openid organisation", prompt="consent")
    page = to_chooser(client, response)
    consent = choose(client, page, first.id)
    assert consent.status_code == 200 and "consent.acting_for" in consent.text
    assert repository.remove_member(first.id, account_id)
    action, token = form_action(consent.text, "/anmeldung/")
    again = client.post(action, data={"decision": "allow", "csrf_token": token}, follow_redirects=False)
    assert again.status_code == 200 and 'name="acting_for"' in again.text
    assert "Musterbau" not in again.text and "Zweite eG" in again.text


def _another_account(client: TestClient, settings: Settings, container: Any) -> str:
    """A second citizen, registered through the pages in a browser of its own."""
    with TestClient(client.app, base_url=str(client.base_url)) as other:
        register_and_verify(other, settings.data_dir / "outbox", username="max", email="max@example.de")
    account = container.account_repository.find_by_login("max")
    assert account is not None
    return str(account.id)
