"""The account after the ID card (issue #6, round two): read-only card data on the master-data page, no mail to
the placeholder address of an account without e-mail, the way to level 4 from the overview, the smartphone's
activation URL, and a renewed card — linked only inside a logged-in account, never by name."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from sqlalchemy import func, select

from servicekonto.domain.eid import NO_MAILBOX_DOMAIN
from servicekonto.persistence import models
from servicekonto.settings import Settings
from servicekonto.web.eid_pages import mobile_client_url
from tests.integration.eid.live import Live, identify, live_app, message_ids, post_form
from tests.support.outbox import mails


@pytest.fixture
def live(settings: Settings) -> Iterator[Live]:
    with live_app(settings) as running:
        yield running


def _register_with_card(browser: httpx2.Client, identity: str = "erika") -> None:
    back = identify(browser, "/registrieren/ausweis", identity=identity)
    done = post_form(browser, back.headers["location"], {"accept_terms": "yes"},
                     action_prefix="/registrieren/ausweis/daten")
    assert done.status_code == 303


def test_the_master_data_page_shows_card_data_read_only_and_keeps_it(live: Live) -> None:
    with live.browser() as browser:
        _register_with_card(browser)
        page = browser.get("/konto/stammdaten")
        assert "master_data.from_card" in message_ids(page.text)
        assert 'value="MUSTERMANN" readonly' in page.text and 'name="family_name"' not in page.text
        assert 'name="phone"' in page.text  # what the card does not say stays editable
        saved = post_form(browser, "/konto/stammdaten", {"phone": "0221 123456", "family_name": "Musterfrau"})
        assert saved.status_code == 303
        again = browser.get("/konto/stammdaten")
    assert 'value="MUSTERMANN" readonly' in again.text and "Musterfrau" not in again.text


def test_an_account_without_e_mail_is_never_mailed_at_its_placeholder(live: Live) -> None:
    outbox = live.settings.data_dir / "outbox"
    with live.browser() as browser:
        _register_with_card(browser)
        overview = browser.get("/konto")
        assert "account.no_email" in message_ids(overview.text) and NO_MAILBOX_DOMAIN not in overview.text
        assert 'href="/konto/e-mail"' in overview.text
        form = browser.get("/konto/e-mail")
        assert "account.no_email" in message_ids(form.text) and NO_MAILBOX_DOMAIN not in form.text
        sent = post_form(browser, "/konto/e-mail", {"new_email": "erika@example.de"})
        assert sent.status_code == 303
    recipients = [str(m["To"]) for m in mails(outbox)]
    assert recipients == ["erika@example.de"]


def test_the_overview_links_to_the_upgrade_only_below_level_4(live: Live) -> None:
    from tests.integration.eid.test_eid_flows import _password_citizen

    with live.browser() as browser:
        _password_citizen(live, browser)
        assert 'href="/konto/vertrauensniveau"' in browser.get("/konto").text
    with live.browser() as browser:
        _register_with_card(browser)
        assert 'href="/konto/vertrauensniveau"' not in browser.get("/konto").text


def test_the_start_page_offers_the_smartphone_next_to_this_computer(live: Live) -> None:
    assert mobile_client_url("http://127.0.0.1:24727/eID-Client") == "eid://127.0.0.1:24727/eID-Client"
    with live.browser() as browser:
        page = browser.get("/anmelden/ausweis")
        assert 'name="client" value="desktop"' in page.text and 'name="client" value="mobile"' in page.text
        started = post_form(browser, "/anmelden/ausweis", {"client": "mobile"})
    # In a test system both lead to the simulator's client page (there is no AusweisApp to start).
    assert started.status_code == 303 and "/eid-simulator/client?tcTokenURL=" in started.headers["location"]


def test_an_unknown_card_explains_renewal_and_support_and_binds_nothing(live: Live) -> None:
    with live.browser() as browser:
        _register_with_card(browser)
    with live.browser() as browser:
        back = identify(browser, "/anmelden/ausweis", identity="residence-permit")
    assert back.status_code == 404 and "eid.renewal_support" in message_ids(back.text)
    with live.container.database.sessions() as session:
        assert session.execute(select(func.count()).select_from(models.EidCard)).scalar_one() == 1


def test_a_renewed_card_is_linked_inside_the_logged_in_account(live: Live) -> None:
    with live.browser() as browser:
        _register_with_card(browser)  # logged in with the first card
        back = identify(browser, "/konto/vertrauensniveau", identity="no-place-of-birth")
        confirm = back.headers["location"]
        page = browser.get(confirm)
        assert "eid.renewed_card" in message_ids(page.text)
        done = post_form(browser, confirm, {"decision": "confirm", "confirm_name": "yes"},
                         action_prefix="/konto/vertrauensniveau")
        assert done.status_code == 303
    with live.container.database.sessions() as session:
        owners = session.execute(select(models.EidCard.account_id)).scalars().all()
    assert len(owners) == 2 and len(set(owners)) == 1
    with live.browser() as browser:  # the new card now logs in to the same account
        assert identify(browser, "/anmelden/ausweis", identity="no-place-of-birth").headers["location"] == "/konto"
