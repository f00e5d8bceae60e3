"""Register, log in and raise the trust level with the ID card, through the simulator's client page over
real HTTP; the failures (cancel, wrong PIN, blocked, expired) show their message and change nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from servicekonto.domain.trust import TrustLevel
from servicekonto.persistence import models
from servicekonto.persistence.database import Database
from servicekonto.settings import Settings
from servicekonto.web.session_context import SESSION_COOKIE
from tests.integration.eid.live import Live, identify, live_app, message_ids, post_form


@pytest.fixture
def live(settings: Settings) -> Iterator[Live]:
    with live_app(settings) as running:
        yield running


def _count(database: Database, table: type[models.Base]) -> int:
    with database.sessions() as session:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def _register(live: Live, browser, identity: str = "erika") -> str:  # type: ignore[no-untyped-def]
    back = identify(browser, "/registrieren/ausweis", identity=identity)
    assert back.status_code == 303 and back.headers["location"].startswith("/registrieren/ausweis/daten?id=")
    done = post_form(browser, back.headers["location"], {"accept_terms": "yes"},
                     action_prefix="/registrieren/ausweis/daten")
    assert done.status_code == 303, done.text
    return str(done.headers["location"])


def test_register_with_erika_gives_a_level_4_account_with_the_cards_data(live: Live) -> None:
    with live.browser() as browser:
        assert _register(live, browser) == "/konto"
        session = live.container.sessions.load(browser.cookies[SESSION_COOKIE])
    assert session is not None and session.trust_level is TrustLevel.HIGH and session.methods == ["eid"]
    attributes = {a.key: a for a in live.container.account_repository.attributes(session.account_id)}
    assert attributes["family_name"].value == "MUSTERMANN"
    assert attributes["birthdate"].value == "1964-08-12"
    assert {a.source.value for a in attributes.values()} == {"eid"}
    assert {a.trust_level for a in attributes.values()} == {TrustLevel.HIGH}
    assert _count(live.container.database, models.EidCard) == 1


def test_the_card_is_stored_only_as_a_keyed_hash(live: Live) -> None:
    from servicekonto.eid.simulator.identities import BY_KEY

    with live.browser() as browser:
        _register(live, browser)
    with live.container.database.sessions() as session:
        stored = session.execute(select(models.EidCard.card_hash)).scalar_one()
    assert BY_KEY["erika"].data.restricted_id not in stored and len(stored) == 43


def test_log_in_with_a_registered_card(live: Live) -> None:
    with live.browser() as browser:
        _register(live, browser)
    with live.browser() as browser:
        back = identify(browser, "/anmelden/ausweis")
        assert back.status_code == 303 and back.headers["location"] == "/konto"
        session = live.container.sessions.load(browser.cookies[SESSION_COOKIE])
    assert session is not None and session.trust_level is TrustLevel.HIGH


def test_log_in_with_an_unknown_card_explains_and_creates_nothing(live: Live) -> None:
    with live.browser() as browser:
        back = identify(browser, "/anmelden/ausweis")
    assert back.status_code == 404 and "eid.unknown_card" in message_ids(back.text)
    assert _count(live.container.database, models.Account) == 0


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"cancel": True}, "eid.cancelled"),
    ({"pin": "000000"}, "eid.wrong_pin"),
    ({"identity": "blocked"}, "eid.card_blocked"),
    ({"identity": "expired"}, "eid.document_expired"),
])
def test_failures_show_their_message_and_change_nothing(live: Live, kwargs: dict[str, object], code: str) -> None:
    with live.browser() as browser:
        back = identify(browser, "/registrieren/ausweis", **kwargs)  # type: ignore[arg-type]
        assert SESSION_COOKIE not in browser.cookies
    assert back.status_code == 400
    assert code in message_ids(back.text)
    assert _count(live.container.database, models.Account) == 0
    assert _count(live.container.database, models.EidCard) == 0


def test_the_refresh_address_of_another_browser_gives_nothing(live: Live) -> None:
    with live.browser() as browser, live.browser() as other:
        started = post_form(browser, "/registrieren/ausweis", {})
        ref = started.headers["location"].split("ref%3D", 1)[1]
        stolen = other.get(f"/eid/zurueck?ref={ref}")
    assert stolen.status_code == 400 and "eid.session_unknown" in message_ids(stolen.text)


def test_tc_token_of_an_unknown_session_is_400_and_a_known_one_names_paos(live: Live) -> None:
    with live.browser() as browser:
        assert browser.get("/eid/tc-token?ref=nothing").status_code == 400
        started = post_form(browser, "/registrieren/ausweis", {})
        ref = started.headers["location"].split("ref%3D", 1)[1]
        token = browser.get(f"/eid/tc-token?ref={ref}")
    assert token.status_code == 200 and token.headers["content-type"].startswith("text/xml")
    for element in ("<ServerAddress>", "<SessionIdentifier>", "<RefreshAddress>",
                    "<Binding>urn:liberty:paos:2006-08</Binding>", "<PSK>"):
        assert element in token.text


def test_registration_without_accepting_the_terms_changes_nothing(live: Live) -> None:
    with live.browser() as browser:
        back = identify(browser, "/registrieren/ausweis")
        refused = post_form(browser, back.headers["location"], {}, action_prefix="/registrieren/ausweis/daten")
    assert refused.status_code == 400 and "registration.terms_not_accepted" in message_ids(refused.text)
    assert _count(live.container.database, models.Account) == 0


def _password_citizen(live: Live, browser, *, given_name: str | None = None) -> str:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from servicekonto.domain.accounts import Account, AccountStatus, StoredAttribute
    from servicekonto.domain.attributes import AttributeSource
    from servicekonto.services.passwords import PasswordHasher
    from tests.integration.accounts.helpers import PASSWORD

    now = datetime.now(UTC)
    account = Account(id="7b0c2d0e-0000-4000-8000-000000000001", username="erika", email="erika@example.de",
                      status=AccountStatus.ACTIVE, password_hash=PasswordHasher().hash(PASSWORD), locale="de",
                      session_epoch=0, created_at=now, email_verified_at=now)
    live.container.account_repository.add(account)
    if given_name:
        source = AttributeSource.SELF_DECLARED
        live.container.account_repository.change_attributes(account.id, {
            "given_name": StoredAttribute("given_name", given_name, source, source.trust_level, now),
            "family_name": StoredAttribute("family_name", "MUSTERMANN", source, source.trust_level, now)}, now=now)
    logged_in = post_form(browser, "/anmelden", {"identifier": "erika", "password": PASSWORD})
    assert logged_in.status_code == 303
    return account.id


def test_upgrade_replaces_self_declared_data_after_the_name_is_confirmed(live: Live) -> None:
    with live.browser() as browser:
        account_id = _password_citizen(live, browser, given_name="Eri")
        back = identify(browser, "/konto/vertrauensniveau")
        confirm = back.headers["location"]
        page = browser.get(confirm)
        assert "eid.name_differs" in message_ids(page.text) and "ERIKA MUSTERMANN" in page.text
        refused = post_form(browser, confirm, {"decision": "confirm"}, action_prefix="/konto/vertrauensniveau")
        assert refused.status_code == 400 and "eid.name_not_confirmed" in message_ids(refused.text)
        assert live.container.account_repository.attributes(account_id)[0].source.value == "self_declared"
        done = post_form(browser, confirm, {"decision": "confirm", "confirm_name": "yes"},
                         action_prefix="/konto/vertrauensniveau")
        assert done.status_code == 303
        session = live.container.sessions.load(browser.cookies[SESSION_COOKIE])
    assert session is not None and session.trust_level is TrustLevel.HIGH and "eid" in session.methods
    attributes = {a.key: a for a in live.container.account_repository.attributes(account_id)}
    assert attributes["given_name"].value == "ERIKA" and attributes["given_name"].source.value == "eid"
    # Read-only from now on: self-service cannot overwrite what the card said.
    account = live.container.account_repository.get(account_id)
    assert account is not None
    live.container.accounts.update_master_data(account, {"given_name": "Eri", "family_name": "MUSTERMANN"})
    assert live.container.account_repository.attributes(account_id)[0].source.value == "eid"


def test_an_oidc_request_for_level_4_steps_up_a_level_1_session_with_the_card(live: Live) -> None:
    from urllib.parse import parse_qs, urlsplit

    from tests.integration.oidc.helpers import authorize_params, pkce, register_portal

    portal = register_portal(live.container)
    _verifier, challenge = pkce()
    claims = '{"id_token": {"acr": {"essential": true, "values": ["STORK-QAA-Level-4"]}}}'
    with live.browser() as browser:
        _password_citizen(live, browser)
        response = browser.get("/oidc/authorize", params=authorize_params(portal, challenge, claims=claims))
        for _ in range(6):
            location = response.headers.get("location", "")
            if location.startswith("/konto/vertrauensniveau"):
                break
            response = browser.get(location)
        assert location.startswith("/konto/vertrauensniveau?return_to=")
        back = identify(browser, location)
        confirm = back.headers["location"]
        answer = post_form(browser, confirm, {"decision": "confirm"}, action_prefix="/konto/vertrauensniveau")
        for _ in range(6):
            location = answer.headers.get("location", "")
            if location.startswith(portal.redirect_uri):
                break
            if answer.status_code == 200 and "/anmeldung/" in answer.text:
                answer = post_form(browser, path_of_here(answer), {"decision": "allow"},
                                   action_prefix="/anmeldung/")
                continue
            answer = browser.get(location)
    query = parse_qs(urlsplit(location).query)
    assert "code" in query, location


def path_of_here(response) -> str:  # type: ignore[no-untyped-def]
    url = response.request.url
    return url.raw_path.decode()
