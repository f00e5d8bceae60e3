"""The console's newer pages: per-service settings, the metadata URL's refresh, the tenant's administrators
and the operator admins — and on each, that a tenant admin never reaches another tenant's services."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from servicekonto.settings import Settings
from tests.integration.accounts.helpers import form_action, register_and_verify
from tests.integration.management.helpers import citizen_session
from tests.support.saml import sp_metadata


def _post(client: TestClient, page: str, action_prefix: str, data: dict[str, str]) -> Any:
    action, token = form_action(client.get(page).text, action_prefix)
    return client.post(action, data={**data, "csrf_token": token}, follow_redirects=False)


def _csrf(client: TestClient, page: str) -> str:
    return form_action(client.get(page).text, page)[1]


def test_a_tenant_admin_changes_an_oidc_clients_settings(client: TestClient, container: Any,
                                                         settings: Settings) -> None:
    citizen_session(client, settings)
    tenant = container.tenants.create("Musterstadt")
    container.admin.grant("erika", tenant_id=tenant.id)
    created = container.oidc_clients.create(tenant_id=tenant.id, name="Portal",
                                            redirect_uris=("https://portal.example.de/cb",))
    client_id = created.client.client_id
    page = f"/verwaltung/mandanten/{tenant.id}/oidc-clients/{client_id}/einstellungen"
    shown = client.get(page)
    assert shown.status_code == 200 and 'name="attr_given_name"' in shown.text and 'value="client_secret_basic"' \
        in shown.text
    assert f'href="{page}"' in client.get(f"/verwaltung/mandanten/{tenant.id}").text

    base = {"name": "Bürgerportal", "redirect_uris": "https://portal.example.de/cb",
            "post_logout_redirect_uris": "", "min_trust_level": "2", "attribute_scope": "selected",
            "attr_email": "on", "attr_family_name": "on", "method_scope": "selected", "method_eid": "on",
            "token_endpoint_auth_method": "client_secret_post", "access_token_format": "opaque", "jwks": "",
            "jwks_uri": ""}
    saved = _post(client, page, page, base)
    assert saved.status_code == 303, saved.text
    stored = container.oidc_clients.registration(client_id)
    assert (stored.name, int(stored.min_trust_level), stored.allowed_attributes, stored.allowed_methods,
            stored.token_endpoint_auth_method, stored.access_token_format.value) == (
        "Bürgerportal", 2, ("family_name", "email"), ("eid",), "client_secret_post", "opaque")
    assert container.oidc_clients.check_secret(stored, created.secret)  # still the same secret

    refused = _post(client, page, page, {**base, "method_eid": "", "min_trust_level": "9"})
    assert refused.status_code == 400 and "error-summary" in refused.text
    assert 'data-message-id="service.methods_invalid"' in refused.text or \
        'data-message-id="service.trust_level_invalid"' in refused.text
    nokeys = _post(client, page, page, {**base, "token_endpoint_auth_method": "private_key_jwt"})
    assert nokeys.status_code == 400 and 'data-message-id="oidc_client.invalid"' in nokeys.text
    assert container.oidc_clients.registration(client_id) == stored  # nothing changed

    every = _post(client, page, page, {**base, "attribute_scope": "all", "method_scope": "all"})
    assert every.status_code == 303
    stored = container.oidc_clients.registration(client_id)
    assert stored.allowed_attributes is None and stored.allowed_methods is None
    assert "admin:oidc_client:updated" in client.get(f"/verwaltung/mandanten/{tenant.id}").text


def test_a_saml_sps_settings_and_its_metadata_refresh(client: TestClient, container: Any,
                                                      settings: Settings) -> None:
    citizen_session(client, settings)
    tenant = container.tenants.create("Musterstadt")
    container.admin.grant("erika", tenant_id=tenant.id)
    served = {"body": sp_metadata()}
    container.admin._fetch = lambda url: served["body"]
    sp = container.admin.add_saml_sp(container.admin.command_line(), tenant.id,
                                     metadata_url="https://portal.example.de/saml/metadata")
    assert sp.metadata_url and sp.metadata_fetched_at is not None
    page = f"/verwaltung/mandanten/{tenant.id}/saml-sps/{sp.id}/einstellungen"
    assert "https://portal.example.de/saml/metadata" in client.get(page).text

    saved = _post(client, page, page, {"name": "Portal (SAML)", "min_trust_level": "3",
                                       "attribute_scope": "selected", "attr_given_name": "on",
                                       "method_scope": "all"})
    assert saved.status_code == 303, saved.text
    stored = container.saml_sps.registration(sp.entity_id)
    assert (stored.name, int(stored.min_trust_level), stored.allowed_attributes, stored.allowed_methods) == (
        "Portal (SAML)", 3, ("given_name",), None)

    served["body"] = b"<broken"
    refresh = f"/verwaltung/mandanten/{tenant.id}/saml-sps/{sp.id}/aktualisieren"
    failed = _post(client, page, refresh, {})
    assert failed.status_code == 303 and "metadata_refresh_failed" in failed.headers["location"]
    after = client.get(failed.headers["location"])
    assert 'data-message-id="saml_sp.metadata_refresh_failed"' in after.text and "saml_sp.invalid" in after.text
    kept = container.saml_sps.registration(sp.entity_id)
    assert kept.metadata_xml == stored.metadata_xml and kept.metadata_error
    assert "Letzter Abruf fehlgeschlagen" in client.get(f"/verwaltung/mandanten/{tenant.id}").text

    served["body"] = sp_metadata()
    assert "metadata_refreshed" in _post(client, page, refresh, {}).headers["location"]
    assert container.saml_sps.registration(sp.entity_id).metadata_error is None
    log = client.get(f"/verwaltung/mandanten/{tenant.id}").text
    for event in ("admin:saml_sp:updated", "admin:saml_sp:metadata_refresh_failed",
                  "admin:saml_sp:metadata_refreshed"):
        assert event in log


def test_admins_are_listed_added_and_removed(client: TestClient, container: Any, settings: Settings) -> None:
    register_and_verify(client, settings.data_dir / "outbox", username="max", email="max@example.de")
    client.cookies.clear()
    citizen_session(client, settings)
    tenant = container.tenants.create("Musterstadt")
    container.admin.grant("erika", tenant_id=tenant.id)
    page = f"/verwaltung/mandanten/{tenant.id}"
    token = _csrf(client, page)
    unknown = client.post(f"{page}/admins", data={"username": "nobody", "csrf_token": token})
    assert unknown.status_code == 400 and 'data-message-id="admin.account_unknown"' in unknown.text
    added = client.post(f"{page}/admins", data={"username": "max", "csrf_token": token}, follow_redirects=False)
    assert added.status_code == 303
    max_id = container.account_repository.find_by_login("max").id
    assert {a.account_id for a in container.admin._roles.for_tenant(tenant.id)} >= {max_id}
    assert "max" in client.get(page).text
    removed = _post(client, page, f"{page}/admins/{max_id}/entfernen", {})
    assert removed.status_code == 303
    assert max_id not in {a.account_id for a in container.admin._roles.for_tenant(tenant.id)}
    log = client.get(page).text
    assert "admin:role:granted" in log and "admin:role:revoked" in log


def test_the_last_operator_stays(client: TestClient, container: Any, settings: Settings) -> None:
    register_and_verify(client, settings.data_dir / "outbox", username="max", email="max@example.de")
    client.cookies.clear()
    citizen_session(client, settings)
    container.admin.grant("erika", operator=True)
    container.admin.grant("max", operator=True)
    erika = container.account_repository.find_by_login("erika").id
    max_id = container.account_repository.find_by_login("max").id
    page = "/verwaltung/betreiber-admins"
    assert client.get(page).status_code == 200 and "max" in client.get(page).text
    assert _post(client, page, f"{page}/{max_id}/entfernen", {}).status_code == 303
    last = _post(client, page, f"{page}/{erika}/entfernen", {})
    assert last.status_code == 409 and 'data-message-id="admin.last_operator"' in last.text
    assert [o.account_id for o in container.admin._roles.operators()] == [erika]


def test_a_tenant_admin_never_reaches_another_tenants_settings(client: TestClient, container: Any,
                                                               settings: Settings) -> None:
    citizen_session(client, settings)
    mine = container.tenants.create("Musterstadt")
    theirs = container.tenants.create("Beispielhausen")
    container.admin.grant("erika", tenant_id=mine.id)
    their_client = container.oidc_clients.create(tenant_id=theirs.id, name="Portal",
                                                 redirect_uris=("https://portal.example.de/cb",)).client
    their_sp = container.saml_sps.add(theirs.id, sp_metadata())
    token = _csrf(client, f"/verwaltung/mandanten/{mine.id}")
    for tenant_id in (theirs.id, mine.id):  # their tenant, and their ids under mine
        base = f"/verwaltung/mandanten/{tenant_id}"
        for path in (f"/oidc-clients/{their_client.client_id}/einstellungen", f"/saml-sps/{their_sp.id}/einstellungen"):
            assert client.get(base + path).status_code == 404, path
        for path, data in ((f"/oidc-clients/{their_client.client_id}/einstellungen",
                            {"name": "Evil", "redirect_uris": "https://portal.example.de/cb",
                             "min_trust_level": "1"}),
                           (f"/saml-sps/{their_sp.id}/einstellungen", {"name": "Evil", "min_trust_level": "1"}),
                           (f"/saml-sps/{their_sp.id}/aktualisieren", {})):
            answer = client.post(base + path, data={**data, "csrf_token": token}, follow_redirects=False)
            assert answer.status_code == 404, (base + path, answer.status_code)
    their_admin = f"/verwaltung/mandanten/{theirs.id}/admins"
    assert client.post(their_admin, data={"username": "erika", "csrf_token": token}).status_code == 404
    assert client.get("/verwaltung/betreiber-admins").status_code == 403
    assert container.oidc_clients.registration(their_client.client_id).name == "Portal"
    assert container.saml_sps.registration(their_sp.entity_id).name == their_sp.name
    assert container.admin._roles.for_tenant(theirs.id) == []
