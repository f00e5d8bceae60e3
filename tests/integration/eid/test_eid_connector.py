"""The TR-03130 connector against the simulator over real HTTP SOAP: useID, getResult with its request
counter, the requested data only, each failure as its own error, and an eID server that does not answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servicekonto.domain.eid import (
    EidCancelled,
    EidCardBlocked,
    EidCommunicationFailed,
    EidDocumentExpired,
    EidFailed,
    EidRequest,
    EidSessionUnknown,
    EidWrongPin,
    Use,
)
from servicekonto.eid.connector import Tr03130EidServer
from servicekonto.eid.simulator.identities import BY_KEY
from servicekonto.eid.simulator.server import SOAP_PATH, SimulatedEidServer
from servicekonto.settings import Settings
from tests.integration.eid.live import Live, live_app
from tests.support.server import free_port


@pytest.fixture
def live(settings: Settings) -> Iterator[Live]:
    with live_app(settings) as running:
        yield running


def _parts(live: Live) -> tuple[Tr03130EidServer, SimulatedEidServer]:
    simulator = live.container.eid_simulator
    assert simulator is not None
    return Tr03130EidServer(url=live.base_url + SOAP_PATH), simulator


def test_use_id_and_get_result_return_erikas_data(live: Live) -> None:
    server, simulator = _parts(live)
    session = server.use_id(EidRequest())
    assert session.server_address and session.server_address.startswith(live.base_url)
    assert session.psk_id and session.psk_key
    assert simulator.present(session.session_id, "erika", "123456") is None
    data = server.get_result(session.session_id, request_counter=1)
    assert (data.given_names, data.family_names, data.birth_name) == ("ERIKA", "MUSTERMANN", "GABLER")
    assert (data.date_of_birth, data.place_of_birth, data.nationality) == ("1964-08-12", "BERLIN", "D")
    assert (data.street, data.zip_code, data.city, data.country) == ("HEIDESTRAẞE 17", "51147", "KÖLN", "D")
    assert (data.document_type, data.issuing_state, data.date_of_expiry) == ("ID", "D", "2029-10-31")
    assert data.restricted_id == BY_KEY["erika"].data.restricted_id


def test_only_the_requested_data_is_returned_and_age_is_verified(live: Live) -> None:
    server, simulator = _parts(live)
    request = EidRequest(operations={"GivenNames": Use.REQUIRED, "RestrictedID": Use.REQUIRED,
                                     "AgeVerification": Use.REQUIRED}, age=18)
    session = server.use_id(request)
    simulator.present(session.session_id, "minor", "123456")
    data = server.get_result(session.session_id, request_counter=1)
    assert data.given_names == "JONAS"
    assert data.family_names is None and data.date_of_birth is None and data.city is None
    assert data.fulfils_age is False


def test_a_card_without_place_of_birth_has_none(live: Live) -> None:
    server, simulator = _parts(live)
    session = server.use_id(EidRequest())
    simulator.present(session.session_id, "no-place-of-birth", "123456")
    assert server.get_result(session.session_id, request_counter=1).place_of_birth is None


def test_a_residence_permit_carries_its_text_and_nationality(live: Live) -> None:
    server, simulator = _parts(live)
    session = server.use_id(EidRequest())
    simulator.present(session.session_id, "residence-permit", "123456")
    data = server.get_result(session.session_id, request_counter=1)
    assert (data.document_type, data.nationality) == ("AR", "TUR")
    assert data.residence_permit and "AufenthG" in data.residence_permit


@pytest.mark.parametrize(("card", "pin", "error"), [
    ("erika", "000000", EidWrongPin),
    ("blocked", "123456", EidCardBlocked),
    ("expired", "123456", EidDocumentExpired),
])
def test_failures_of_the_card_are_their_own_errors(live: Live, card: str, pin: str,
                                                    error: type[EidFailed]) -> None:
    server, simulator = _parts(live)
    session = server.use_id(EidRequest())
    simulator.present(session.session_id, card, pin)
    with pytest.raises(error):
        server.get_result(session.session_id, request_counter=1)


def test_a_cancelled_identification_is_cancelled(live: Live) -> None:
    server, simulator = _parts(live)
    session = server.use_id(EidRequest())
    simulator.cancel(session.session_id)
    with pytest.raises(EidCancelled):
        server.get_result(session.session_id, request_counter=1)


def test_a_result_is_handed_out_once_and_unknown_sessions_are_refused(live: Live) -> None:
    server, simulator = _parts(live)
    session = server.use_id(EidRequest())
    simulator.present(session.session_id, "erika", "123456")
    server.get_result(session.session_id, request_counter=1)
    with pytest.raises(EidSessionUnknown):
        server.get_result(session.session_id, request_counter=2)
    with pytest.raises(EidSessionUnknown):
        server.get_result("no-such-session", request_counter=1)


def test_a_request_counter_must_grow(live: Live) -> None:
    server, _simulator = _parts(live)
    session = server.use_id(EidRequest())
    with pytest.raises(EidCommunicationFailed):  # noResultYet: the citizen has not finished
        server.get_result(session.session_id, request_counter=1)
    with pytest.raises(EidSessionUnknown):  # invalidCounter
        server.get_result(session.session_id, request_counter=1)


def test_an_eid_server_that_does_not_answer_is_a_communication_error() -> None:
    server = Tr03130EidServer(url=f"http://127.0.0.1:{free_port()}/soap", timeout=2.0)
    with pytest.raises(EidCommunicationFailed):
        server.use_id(EidRequest())


def test_a_non_soap_answer_is_a_communication_error(live: Live) -> None:
    server = Tr03130EidServer(url=live.base_url + "/healthz")
    with pytest.raises(EidCommunicationFailed):
        server.use_id(EidRequest())
