"""Acting for an organisation (issue #10) through SAML: the SP asks for eIDAS legal-person attributes in the
AKDB extension; the citizen chooses the organisation; the Assertion carries bPK2 (the person), the
organisation's LegalPersonIdentifier, LegalName and LegalPersonAddress, and the person's roles as one
AttributeValue each. LegalPersonIdentifier required: organisations only, RequestDenied for a citizen without."""

from __future__ import annotations

import base64
import html
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from lxml import etree
from starlette.testclient import TestClient

from servicekonto.persistence.organisations import SqlOrganisationRepository
from servicekonto.settings import Settings
from tests.integration.accounts.helpers import form_action, login, register_and_verify
from tests.integration.oidc.test_acting_for import organisation
from tests.integration.saml.test_requested_authn_context import status_at_acs
from tests.support.saml import (
    ENTITY_ID,
    akdb_extension,
    authn_request_xml,
    post_params,
    request_signing_key,
    sign_enveloped,
    sp_metadata_with_keys,
)
from tests.unit.test_saml_response import decrypt, sp_encryption_key

LEGAL = "http://eidas.europa.eu/attributes/legalperson/"
ROLES = "urn:servicekonto:organisation:roles"
BPK2 = "urn:oid:1.3.6.1.4.1.25484.494450.3"
NS = {"saml": "urn:oasis:names:tc:SAML:2.0:assertion"}


def send(client: TestClient, settings: Settings, request_id: str, *, required: str | None) -> Any:
    extension = akdb_extension(attributes=((BPK2, "true"), (LEGAL + "LegalPersonIdentifier", required),
                                           (LEGAL + "LegalName", None), (LEGAL + "LegalPersonAddress", None),
                                           (ROLES, None)))
    xml = authn_request_xml(request_id=request_id, issue_instant=datetime.now(UTC), extensions=extension,
                            destination=settings.base_url.rstrip("/") + "/saml/sso")
    return client.post("/saml/sso", data=post_params(sign_enveloped(xml), "rs-3"), follow_redirects=False)


def walk(client: TestClient, page: Any) -> Any:
    while page.status_code == 303 and page.headers["location"].startswith("/"):
        page = client.get(page.headers["location"], follow_redirects=False)
    return page


def post(client: TestClient, page: Any, **data: str) -> Any:
    action, token = form_action(page.text, "/anmeldung/")
    return client.post(action, data={**data, "csrf_token": token}, follow_redirects=False)


def test_the_assertion_names_the_person_and_the_organisation(client: TestClient, settings: Settings,
                                                             container: Any) -> None:
    container.saml_sps.add(container.tenants.ensure("Musterstadt").id, sp_metadata_with_keys(
        signing=request_signing_key()[1], encryption=sp_encryption_key()[1]))
    register_and_verify(client, settings.data_dir / "outbox")
    login(client)
    account = container.account_repository.find_by_login("erika")
    org = organisation(container, str(account.id))
    SqlOrganisationRepository(container.database).set_service_roles(
        org.id, str(account.id), frozenset({(ENTITY_ID, "antragsteller")}))
    request_id = "_" + secrets.token_hex(12)
    chooser = walk(client, send(client, settings, request_id, required=None))
    assert 'value="self"' in chooser.text and "Musterbau GmbH" in chooser.text
    consent = walk(client, post(client, chooser, decision="act", acting_for=org.id))
    assert "Hauptstraße 1, 50667, Köln, DE" in consent.text  # the address as a line, not as base64
    answer = post(client, consent, decision="allow")
    value = re.search(r'name="SAMLResponse" value="([^"]+)"', answer.text)
    assert value is not None
    assertion = etree.fromstring(decrypt(base64.b64decode(html.unescape(value.group(1))), sp_encryption_key()[0]))
    values: dict[str, list[str]] = {}
    for attribute in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS):
        values[attribute.get("Name")] = [v.text for v in attribute.iterfind("saml:AttributeValue", NS)]
    [person] = values[BPK2]
    [legal_id] = values[LEGAL + "LegalPersonIdentifier"]
    assert len(legal_id) == 43 and legal_id != person
    assert values[LEGAL + "LegalName"] == ["Musterbau GmbH"]
    address = base64.b64decode(values[LEGAL + "LegalPersonAddress"][0]).decode()
    assert "<eidas:Thoroughfare" in address and "Hauptstraße 1" in address and ">50667<" in address
    assert values[ROLES] == ["admin", "antragsteller"]


def test_organisations_only_without_one_is_request_denied(client: TestClient, settings: Settings,
                                                          container: Any) -> None:
    container.saml_sps.add(container.tenants.ensure("Musterstadt").id, sp_metadata_with_keys(
        signing=request_signing_key()[1], encryption=sp_encryption_key()[1]))
    register_and_verify(client, settings.data_dir / "outbox")
    login(client)
    request_id = "_" + secrets.token_hex(12)
    page = walk(client, send(client, settings, request_id, required="true"))
    assert "acting_for.no_organisation" in page.text
    answer = post(client, page, decision="back")
    status, sub_status = status_at_acs(answer, request_id)
    assert status.endswith(":Responder") and sub_status.endswith(":RequestDenied")
