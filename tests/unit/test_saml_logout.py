"""Single Logout messages (SAML core §3.7): reading a LogoutRequest from what its signature covers, and our
LogoutResponse — schema-valid, signed as XML for HTTP-POST and over the query for HTTP-Redirect, in either
algorithm an SP may get."""

from __future__ import annotations

from datetime import timedelta

import pytest
from lxml import etree
from signxml import SignatureConfiguration, SignatureMethod, XMLVerifier

from servicekonto.protocols.saml import redirect_binding
from servicekonto.protocols.saml.logout import (
    SamlLogoutInvalid,
    SamlLogoutRequest,
    answer,
    build_logout_response,
    read_logout_request,
    sign_message,
)
from servicekonto.protocols.saml.response import RSA_PSS_SHA256, RSA_SHA256
from tests.support.saml import (
    ENTITY_ID,
    PORTAL_SLO,
    POST,
    REDIRECT,
    REQUEST_TIME,
    SLO_URL,
    authn_sp,
    key_pair,
    logout_request_xml,
    pem,
    post_params,
    protocol_schema,
    query_params,
    read_redirect_message,
    redirect_query,
    sign_enveloped,
    slo_endpoints,
)

IDP = "https://id.example.de/saml/metadata"


class Replay:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, key: str, ttl: float) -> bool:
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


def read(xml: bytes, *, binding: str = "post", remember: Replay | None = None) -> SamlLogoutRequest:
    sp = authn_sp(endpoints=slo_endpoints(REDIRECT))
    raw_query = redirect_query(xml, relay_state="rs") if binding == "redirect" else None
    params = query_params(raw_query) if raw_query else post_params(sign_enveloped(xml), "rs")
    return read_logout_request(binding=binding, params=params, raw_query=raw_query, lookup_sp={sp.entity_id: sp}.get,
                               remember_id=remember or Replay(), now=REQUEST_TIME, slo_url=SLO_URL)


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_a_signed_request_names_its_principal(binding: str) -> None:
    request = read(logout_request_xml(name_id="_n1", session_indexes=("_s1", "_s2")), binding=binding)
    assert (request.issuer, request.name_id, request.session_indexes) == (ENTITY_ID, "_n1", ("_s1", "_s2"))
    assert request.relay_state == "rs" and request.binding == binding
    assert SamlLogoutRequest.from_state(request.to_state(), request.sp) == request


def test_an_encrypted_id_names_no_name_id_we_could_compare() -> None:
    identifier = ('<saml:EncryptedID><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/>'
                  "</saml:EncryptedID>")
    assert read(logout_request_xml(identifier=identifier)).name_id is None


def test_the_replay_key_is_not_the_authn_requests() -> None:
    """A logout ID and a login ID of one SP live in separate replay spaces; each is used once."""
    remember = Replay()
    read(logout_request_xml(request_id="_same"), remember=remember)
    with pytest.raises(SamlLogoutInvalid) as caught:
        read(logout_request_xml(request_id="_same"), remember=remember)
    assert caught.value.code == "saml.logout.replayed"


def test_a_not_on_or_after_in_the_past_is_expired() -> None:
    with pytest.raises(SamlLogoutInvalid) as caught:
        read(logout_request_xml(not_on_or_after=REQUEST_TIME - timedelta(minutes=2)))
    assert caught.value.code == "saml.logout.expired"


@pytest.mark.parametrize("algorithm", [RSA_PSS_SHA256, RSA_SHA256])
def test_the_post_answer_is_schema_valid_and_signed(algorithm: str) -> None:
    key, cert = key_pair("idp signing")
    response = build_logout_response(idp_entity_id=IDP, in_response_to="_r1", destination=PORTAL_SLO, partial=True,
                                     now=REQUEST_TIME)
    document = sign_message(response, signing_key=key, certificate_pem=pem(cert), signature_method=algorithm)
    root = etree.fromstring(document)
    schema = protocol_schema()
    if schema is not None:
        schema.assertValid(root)
    config = SignatureConfiguration(signature_methods=frozenset({SignatureMethod(algorithm)}))
    signed = XMLVerifier().verify(document, x509_cert=pem(cert), expect_config=config).signed_xml
    assert signed.get("InResponseTo") == "_r1" and signed.get("Destination") == PORTAL_SLO
    assert [etree.QName(child).localname for child in root] == ["Issuer", "Signature", "Status"]


def test_the_redirect_answer_is_preferred_and_signed_over_its_query() -> None:
    key, cert = key_pair("idp signing")
    sp = authn_sp(endpoints=slo_endpoints(POST, REDIRECT))
    request = SamlLogoutRequest(id="_r2", issuer=sp.entity_id, sp=sp, name_id="_n", session_indexes=(),
                                relay_state="a b&c", binding="post")
    sent = answer(request, idp_entity_id=IDP, partial=False, signing_key=key, certificate_pem=pem(cert),
                  now=REQUEST_TIME)
    assert sent.binding == "redirect"  # preferred where the SP offers both
    query = redirect_binding.parse_query(sent.location.split("?", 1)[1], message="SAMLResponse")
    assert query.sig_alg == RSA_PSS_SHA256  # the SP declared no signing methods: PSS
    assert redirect_binding.verify_query_signature(query, [pem(cert)])
    message, params = read_redirect_message(sent.location)
    assert params["RelayState"] == "a b&c" and message.get("InResponseTo") == "_r2"
