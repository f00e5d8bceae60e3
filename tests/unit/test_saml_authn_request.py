"""AuthnRequests are read as BundID reads them (egov-interfaces.md §1.3): both bindings, signatures checked
against the portal's registered certificates, the AKDB extension only on signed requests, and hostile input
(wrapped signatures, DTDs, DEFLATE bombs, replays) refused with a `SamlRequestInvalid` and a stable code."""

from __future__ import annotations

import base64
import contextlib
import copy
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from servicekonto.domain.saml_sp import SamlServiceProvider
from servicekonto.domain.trust import TrustLevel, Vocabulary
from servicekonto.protocols.saml.authn_request import (
    MAX_REQUEST_BYTES,
    STATUS_RESPONDER,
    STATUS_UNSUPPORTED_BINDING,
    SamlAuthnRequest,
    SamlRequestInvalid,
    read_authn_request,
)
from tests.support.saml import (
    ACS,
    ACS_2,
    BUNDID_EXAMPLE_ACS,
    BUNDID_EXAMPLE_SP,
    BUNDID_EXAMPLE_SSO,
    BUNDID_EXAMPLE_V1,
    BUNDID_EXAMPLE_V1_TIME,
    BUNDID_EXAMPLE_V2,
    BUNDID_EXAMPLE_V2_TIME,
    DS_NS,
    ECDSA_SHA256,
    ENTITY_ID,
    POST,
    PSS,
    REQUEST_TIME,
    RSA_SHA1,
    RSA_SHA256,
    RSA_SHA512,
    SAMLP_NS,
    SSO_URL,
    acs,
    akdb_extension,
    authn_context,
    authn_request_xml,
    authn_sp,
    deflate,
    post_params,
    private_key_pem,
    protocol_schema,
    query_params,
    redirect_query,
    request_signing_key,
    sign_enveloped,
    sign_octets,
)

BPK2 = "urn:oid:1.3.6.1.4.1.25484.494450.3"
GIVEN_NAME = "urn:oid:2.5.4.42"
FAMILY_NAME = "urn:oid:2.5.4.4"
BPK = "urn:oid:1.2.40.0.10.2.1.1.149"
POSTKORB = "urn:oid:2.5.4.18"
FULL_DISPLAY = {"Purpose": "<h1>Antrag</h1>", "OrganizationDisplayName": "  Bürgerportal\n Musterstadt ",
                "Lang": "en", "BackURL": "https://portal.example.de/antrag?schritt=2&id=7",
                "OnlineServiceId": "BMI-A1234"}


class Replay:
    """The replay guard as EphemeralStore.add gives it: True the first time a key is seen."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def __call__(self, key: str, ttl: float) -> bool:
        if key in self.seen:
            return False
        self.seen[key] = ttl
        return True


def read(xml: bytes | None = None, *, binding: str = "post", relay_state: str | None = None,
         raw_query: str | None = None, params: dict[str, str] | None = None, sp: SamlServiceProvider | None = None,
         now: datetime = REQUEST_TIME, sso_url: str | tuple[str, ...] = SSO_URL, remember: Replay | None = None,
         require_akdb_v2: bool = False) -> SamlAuthnRequest:
    registered = {s.entity_id: s for s in ([sp] if sp is not None else [authn_sp()])}
    if binding == "post" and params is None:
        assert xml is not None
        params = post_params(xml, relay_state)
    if binding == "redirect" and raw_query is None:
        assert xml is not None
        raw_query = redirect_query(xml, relay_state=relay_state, sign=False)
    if params is None:
        params = query_params(raw_query or "")
    return read_authn_request(binding=binding, params=params, raw_query=raw_query, lookup_sp=registered.get,
                              remember_id=remember or Replay(), now=now, sso_url=sso_url,
                              require_akdb_v2=require_akdb_v2)


def refused(code: str, xml: bytes | None = None, **kwargs: object) -> SamlRequestInvalid:
    with pytest.raises(SamlRequestInvalid) as caught:
        read(xml, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code, caught.value.detail
    assert caught.value.http_status == 400
    return caught.value


def signed_v2(**kwargs: object) -> bytes:
    extension = akdb_extension(methods=(("eID", "true"), ("Benutzername", None), ("Elster", "false")),
                               display=FULL_DISPLAY, status_detail="true")
    return sign_enveloped(authn_request_xml(extensions=extension, **kwargs))  # type: ignore[arg-type]


# -- valid requests ---------------------------------------------------------------------------------------------

def test_a_signed_post_request_is_read_completely() -> None:
    xml = signed_v2(force_authn="true", is_passive="false",
                    requested_context=authn_context("STORK-QAA-Level-3"))
    request = read(xml, relay_state="ss:mem:4711")

    assert (request.id, request.issuer, request.sp.entity_id) == ("_4f2a9c1e8b7d", ENTITY_ID, ENTITY_ID)
    assert (request.binding, request.signed, request.relay_state, request.acs_url) == ("post", True, "ss:mem:4711", ACS)
    assert (request.force_authn, request.is_passive) == (True, False)
    assert (request.min_level, request.level_vocabulary) == (TrustLevel.SUBSTANTIAL, Vocabulary.STORK)
    assert request.akdb_version == 2
    assert request.requested == (("pseudonym", True), ("given_name", False))
    assert request.authn_methods == ("eID", "Benutzername")  # Elster is switched off
    assert request.display_name == "Bürgerportal Musterstadt"
    assert (request.lang, request.back_url, request.online_service_id) == (
        "en", "https://portal.example.de/antrag?schritt=2&id=7", "BMI-A1234")
    assert request.enable_status_detail
    assert request.issue_instant == REQUEST_TIME
    assert not request.extension_ignored and request.extension_ignored_reason is None
    assert request.unknown_attributes == ()


def test_a_signed_redirect_request_is_read_completely() -> None:
    xml = authn_request_xml(extensions=akdb_extension(display=FULL_DISPLAY),
                            requested_context=authn_context("http://eidas.europa.eu/LoA/high"))
    query = redirect_query(xml, relay_state="https://portal.example.de/antrag?a=1&b=ä+ö")
    request = read(binding="redirect", raw_query=query)

    assert (request.binding, request.signed) == ("redirect", True)
    assert request.relay_state == "https://portal.example.de/antrag?a=1&b=ä+ö"
    assert (request.min_level, request.level_vocabulary) == (TrustLevel.HIGH, Vocabulary.EIDAS)
    assert request.requested == (("pseudonym", True), ("given_name", False))
    assert request.display_name == "Bürgerportal Musterstadt"


@pytest.mark.parametrize("algorithm", [RSA_SHA256, RSA_SHA512, PSS, ECDSA_SHA256])
def test_redirect_signatures_in_every_accepted_algorithm(algorithm: str) -> None:
    kind = "ec" if algorithm == ECDSA_SHA256 else "rsa"
    sp = authn_sp(signed_requests=True, signing=(request_signing_key(kind)[1],))
    query = redirect_query(authn_request_xml(), algorithm=algorithm, key=request_signing_key(kind))
    assert read(binding="redirect", raw_query=query, sp=sp).signed


@pytest.mark.parametrize("algorithm", [RSA_SHA256, RSA_SHA512, PSS, ECDSA_SHA256])
def test_post_signatures_in_every_accepted_algorithm(algorithm: str) -> None:
    kind = "ec" if algorithm == ECDSA_SHA256 else "rsa"
    sp = authn_sp(signed_requests=True, signing=(request_signing_key(kind)[1],))
    xml = sign_enveloped(authn_request_xml(), key=request_signing_key(kind), algorithm=algorithm)
    assert read(xml, sp=sp).signed


def test_an_ecdsa_query_signature_in_xml_dsig_form_r_s_is_accepted() -> None:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key, cert = request_signing_key("ec")
    sp = authn_sp(signing=(cert,))
    query = redirect_query(authn_request_xml(), sign=False) + "&SigAlg=" + ECDSA_SHA256.replace(":", "%3A").replace(
        "/", "%2F").replace("#", "%23")
    r, s = decode_dss_signature(sign_octets(query.encode(), ECDSA_SHA256, key))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    query += "&Signature=" + base64.b64encode(raw).decode().replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    assert read(binding="redirect", raw_query=query, sp=sp).signed


def test_a_second_registered_certificate_verifies_too() -> None:
    """Key rollover: the portal publishes the old and the new certificate and signs with either."""
    sp = authn_sp(signing=(request_signing_key("ec")[1], request_signing_key()[1]))
    assert read(signed_v2(), sp=sp).signed
    assert read(binding="redirect", raw_query=redirect_query(authn_request_xml()), sp=sp).signed


def test_the_query_parameters_may_come_in_any_order() -> None:
    query = redirect_query(authn_request_xml(), relay_state="state")
    request, relay, sig_alg, signature = query.split("&")
    assert read(binding="redirect", raw_query="&".join([signature, relay, "foo=bar", sig_alg, request])).signed


def test_the_test_requests_are_schema_valid() -> None:
    schema = protocol_schema()
    if schema is None:
        pytest.skip("pysaml2 (which ships the OASIS schemas) is not installed")
    for xml in (authn_request_xml(), signed_v2(requested_context=authn_context("STORK-QAA-Level-2"))):
        assert schema.validate(etree.fromstring(xml)), schema.error_log


# -- signatures -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change", [
    (b'ForceAuthn="false"', b'ForceAuthn="true "'),
    (ACS.encode(), ACS_2.encode()),
    (b'Name="urn:oid:2.5.4.42"', b'Name="urn:oid:2.5.4.4"'),
    (b"BMI-A1234", b"BMI-B9999"),
])
def test_a_changed_post_request_is_refused(change: tuple[bytes, bytes]) -> None:
    xml = signed_v2(force_authn="false")
    assert change[0] in xml
    refused("saml.request.signature_invalid", xml.replace(*change))


def test_a_changed_redirect_request_is_refused() -> None:
    query = redirect_query(authn_request_xml(), relay_state="state")
    other = redirect_query(authn_request_xml(acs_url=ACS_2), sign=False)
    refused("saml.request.signature_invalid", binding="redirect", raw_query=query.replace("state", "other"))
    swapped = other.split("&")[0] + "&" + "&".join(query.split("&")[1:])
    refused("saml.request.signature_invalid", binding="redirect", raw_query=swapped)
    refused("saml.request.signature_invalid", binding="redirect", raw_query=query.replace("RelayState=state&", ""))


def test_a_signature_by_an_unregistered_key_is_refused() -> None:
    other = request_signing_key("other")
    refused("saml.request.signature_invalid", sign_enveloped(authn_request_xml(), key=other))
    refused("saml.request.signature_invalid", binding="redirect",
            raw_query=redirect_query(authn_request_xml(), key=other))


def test_sha1_is_refused() -> None:
    refused("saml.request.signature_invalid", sign_enveloped(authn_request_xml(), algorithm=RSA_SHA1))
    refused("saml.request.signature_invalid", binding="redirect",
            raw_query=redirect_query(authn_request_xml(), algorithm=RSA_SHA1))


def test_redirect_signature_parameters_must_come_together_and_once() -> None:
    query = redirect_query(authn_request_xml(), relay_state="state")
    request, relay, sig_alg, signature = query.split("&")
    refused("saml.request.signature_invalid", binding="redirect", raw_query="&".join([request, relay, signature]))
    refused("saml.request.signature_invalid", binding="redirect", raw_query="&".join([request, relay, sig_alg]))
    refused("saml.request.malformed", binding="redirect", raw_query="&".join([query, signature]))
    unsigned = redirect_query(authn_request_xml(acs_url=ACS_2), sign=False)
    refused("saml.request.malformed", binding="redirect", raw_query=unsigned + "&" + query)
    refused("saml.request.malformed", binding="redirect", raw_query="RelayState=x")


def test_the_redirect_request_is_read_from_the_raw_query_not_from_the_parsed_parameters() -> None:
    """A framework that parsed the query differently (parameter pollution) cannot smuggle another request."""
    query = redirect_query(authn_request_xml(), relay_state="state")
    forged = query_params(redirect_query(authn_request_xml(acs_url=ACS_2), relay_state="evil", sign=False))
    request = read(binding="redirect", raw_query=query, params=forged)
    assert (request.acs_url, request.relay_state, request.signed) == (ACS, "state", True)


def test_an_xml_signature_left_in_a_redirect_request_is_verified() -> None:
    """SAML bindings §3.4.4.1 says to remove it; some senders don't. It still counts only when it verifies."""
    assert read(binding="redirect", raw_query=redirect_query(signed_v2(), sign=False)).signed
    forged = signed_v2().replace(b"BMI-A1234", b"BMI-B9999")
    refused("saml.request.signature_invalid", binding="redirect", raw_query=redirect_query(forged, sign=False))


# -- unsigned requests and the AKDB extension -------------------------------------------------------------------

@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_an_unsigned_request_is_read_but_its_extension_ignored(binding: str) -> None:
    """BundID §9: the extension is evaluated only when the AuthnRequest is signed."""
    xml = authn_request_xml(extensions=akdb_extension(display=FULL_DISPLAY, status_detail="true",
                                                      methods=(("eID", None),)),
                            requested_context=authn_context("STORK-QAA-Level-2"))
    request = read(xml, binding=binding, relay_state="state")

    assert not request.signed
    assert request.extension_ignored and request.extension_ignored_reason == "saml-request-not-signed"
    assert request.requested == () and request.akdb_version is None and request.authn_methods == ()
    assert (request.display_name, request.lang, request.back_url, request.online_service_id) == (None,) * 4
    assert not request.enable_status_detail
    assert (request.min_level, request.relay_state, request.acs_url) == (TrustLevel.LOW, "state", ACS)


def test_an_unsigned_request_without_extension_ignores_nothing() -> None:
    request = read(authn_request_xml())
    assert not request.signed and not request.extension_ignored and request.min_level is None


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_a_portal_that_signs_its_requests_must_sign_every_one(binding: str) -> None:
    error = refused("saml.request.unsigned", authn_request_xml(), binding=binding,
                    sp=authn_sp(signed_requests=True))
    assert error.bundid_code == "saml-request-not-signed"
    assert error.sp is not None and error.request_id == "_4f2a9c1e8b7d"


def test_akdb_version_1_with_allowed_methods() -> None:
    extension = akdb_extension(version="1", allowed_methods=("eID", " Benutzername "),
                               attributes=((BPK2, None), (POSTKORB, None), (FAMILY_NAME, "1")))
    request = read(sign_enveloped(authn_request_xml(extensions=extension)))
    assert request.akdb_version == 1
    assert request.authn_methods == ("eID", "Benutzername")
    assert request.requested == (("pseudonym", False), ("family_name", True))
    assert request.unknown_attributes == ((POSTKORB, False),)


def test_akdb_version_1_without_requested_attributes_asks_for_no_list() -> None:
    request = read(sign_enveloped(authn_request_xml(extensions=akdb_extension(version="1", attributes=None))))
    assert (request.akdb_version, request.requested, request.extension_ignored) == (1, (), False)


def test_requested_attributes_map_to_catalogue_keys_once_each() -> None:
    attributes = ((GIVEN_NAME, "false"), (BPK, "true"), (GIVEN_NAME, "true"), (" " + FAMILY_NAME + " ", "TRUE"),
                  ("urn:oid:1.2.40.0.10.2.1.1.261.94", "0"), ("urn:oid:1.3.6.1.4.1.25484.494450.1", "false"))
    extension = akdb_extension(attributes=attributes)
    request = read(sign_enveloped(authn_request_xml(extensions=extension)))
    assert request.requested == (("given_name", True), ("family_name", True), ("trust_level", False),
                                 ("version", False))
    assert request.unknown_attributes == ((BPK, True),)


@pytest.mark.parametrize(("attributes", "reason"), [
    (None, "requested-attributes-empty"),
    ((), "requested-attributes-empty"),
    (((GIVEN_NAME, "true"), ("", "true")), "requested-attributes-missing-name"),
    (((GIVEN_NAME, "true"), ("givenName", None)), "requested-attributes-missing-name"),
])
def test_version_2_without_usable_attribute_names_is_ignored_like_bundid(
        attributes: tuple[tuple[str, str | None], ...] | None, reason: str) -> None:
    """BundID §9.2.2: the IdP behaves as if no akdb:AuthenticationRequest had been sent."""
    request = read(sign_enveloped(authn_request_xml(extensions=akdb_extension(
        attributes=attributes, display=FULL_DISPLAY, methods=(("eID", None),)))))
    assert request.signed and request.extension_ignored and request.extension_ignored_reason == reason
    assert (request.requested, request.display_name, request.authn_methods) == ((), None, ())


def test_an_unsupported_extension_version_is_ignored() -> None:
    for version in (None, "3"):
        request = read(sign_enveloped(authn_request_xml(extensions=akdb_extension(version=version))))
        assert request.extension_ignored_reason == "akdb-extension-version-unsupported"
        assert request.akdb_version is None and request.requested == ()


@pytest.mark.parametrize("methods", [(), (("eID", "false"), ("Elster", "nein"))])
def test_an_empty_method_list_is_an_error(methods: tuple[tuple[str, str | None], ...]) -> None:
    error = refused("saml.request.extension_invalid",
                    sign_enveloped(authn_request_xml(extensions=akdb_extension(methods=methods))), relay_state="rs")
    assert error.bundid_code == "empty-authentication-methods"
    assert (error.sp, error.request_id, error.acs_url, error.relay_state) == (authn_sp(), "_4f2a9c1e8b7d", ACS, "rs")


def test_display_information_is_checked_field_by_field() -> None:
    display = {"OrganizationDisplayName": "x" * 500, "Lang": "fr", "BackURL": "javascript:alert(1)",
               "OnlineServiceId": "  "}
    request = read(sign_enveloped(authn_request_xml(extensions=akdb_extension(display=display))))
    assert request.display_name == "x" * 200
    assert (request.lang, request.back_url, request.online_service_id) == (None, None, None)
    for back_url in ("http://portal.example.de/", "https://user:pw@portal.example.de/", "/relative",
                     "https://portal.example.de/a b"):
        extension = akdb_extension(display={"BackURL": back_url})
        assert read(sign_enveloped(authn_request_xml(extensions=extension))).back_url is None, back_url


@pytest.mark.parametrize(("extension", "bundid_code"), [
    ("", "akdb-extension-missing"),
    (akdb_extension(version="3"), "akdb-extension-missing"),
    (akdb_extension(version="1", display=FULL_DISPLAY), "akdb-extension-v1-deprecated"),
    (akdb_extension(attributes=(), display=FULL_DISPLAY), "requested-attributes-empty"),
    (akdb_extension(attributes=((" ", None),), display=FULL_DISPLAY), "requested-attributes-missing-name"),
    (akdb_extension(display={"Lang": "de"}), "organization-display-name-missing"),
])
def test_when_version_2_is_mandatory_what_is_otherwise_ignored_is_refused(extension: str, bundid_code: str) -> None:
    """BundID §9: the operator switch "V2 mandatory"; the IdP answers with an error Response."""
    error = refused("saml.request.extension_invalid", sign_enveloped(authn_request_xml(extensions=extension)),
                    require_akdb_v2=True)
    assert error.bundid_code == bundid_code
    assert error.acs_url == ACS


def test_when_version_2_is_mandatory_the_request_must_be_signed() -> None:
    xml = authn_request_xml(extensions=akdb_extension(display=FULL_DISPLAY))
    assert refused("saml.request.unsigned", xml, require_akdb_v2=True).bundid_code == "saml-request-not-signed"
    assert read(sign_enveloped(xml), require_akdb_v2=True).akdb_version == 2


# -- RequestedAuthnContext ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("context", "expected"), [
    ("", (None, None)),
    (authn_context("STORK-QAA-Level-3"), (TrustLevel.SUBSTANTIAL, Vocabulary.STORK)),
    (authn_context(" STORK-QAA-Level-1 ", comparison=None), (TrustLevel.BASIC, Vocabulary.STORK)),
    (authn_context("http://eidas.europa.eu/LoA/high", comparison="exact"), (TrustLevel.HIGH, Vocabulary.EIDAS)),
    (authn_context("http://bsi.bund.de/eID/LoA/substantiell", comparison="better"),
     (TrustLevel.HIGH, Vocabulary.BSI)),
    (authn_context("http://eidas.europa.eu/NotNotified/LoA/low"), (TrustLevel.LOW, Vocabulary.EIDAS)),
    (authn_context("STORK-QAA-Level-4", "http://eidas.europa.eu/LoA/substantial", "STORK-QAA-Level-3"),
     (TrustLevel.SUBSTANTIAL, Vocabulary.EIDAS)),
    (authn_context("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport", "STORK-QAA-Level-2"),
     (TrustLevel.LOW, Vocabulary.STORK)),
    (authn_context("urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"), (None, None)),
    (authn_context("STORK-QAA-Level-4", comparison="maximum"), (None, Vocabulary.STORK)),
])
def test_the_requested_level_is_the_lowest_level_named(
        context: str, expected: tuple[TrustLevel | None, Vocabulary | None]) -> None:
    request = read(authn_request_xml(requested_context=context))
    assert (request.min_level, request.level_vocabulary) == expected


@pytest.mark.parametrize(("context", "comparison", "answer_levels"), [
    ("", "exact", None),
    (authn_context("STORK-QAA-Level-2", "STORK-QAA-Level-3", comparison="minimum"), "minimum", None),
    (authn_context("STORK-QAA-Level-2", "STORK-QAA-Level-3", comparison="exact"), "exact",
     (TrustLevel.LOW, TrustLevel.SUBSTANTIAL)),
    (authn_context("STORK-QAA-Level-1", comparison=None), "exact", (TrustLevel.BASIC,)),
    (authn_context("STORK-QAA-Level-2", comparison="maximum"), "maximum", (TrustLevel.BASIC, TrustLevel.LOW)),
    (authn_context("STORK-QAA-Level-2", comparison="better"), "better", None),
])
def test_exact_and_maximum_name_the_levels_the_answer_may_state(
        context: str, comparison: str, answer_levels: tuple[TrustLevel, ...] | None) -> None:
    request = read(authn_request_xml(requested_context=context))
    assert (request.comparison, request.answer_levels) == (comparison, answer_levels)


@pytest.mark.parametrize("context", [
    authn_context("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport", comparison="exact"),
    authn_context("urn:example:unknown-class"),
    authn_context("STORK-QAA-Level-4", comparison="better"),
])
def test_a_context_no_login_can_meet_is_no_authn_context_at_the_acs(context: str) -> None:
    """SAML core §3.3.2.2.1: an error Response with NoAuthnContext, not the lowest level; the request
    passed every other check, so the ACS is known and the surface may answer there."""
    error = refused("saml.request.no_authn_context", authn_request_xml(requested_context=context))
    assert error.saml_status == (STATUS_RESPONDER, "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext")
    assert error.acs_url == ACS


def test_an_unknown_comparison_is_malformed() -> None:
    refused("saml.request.malformed",
            authn_request_xml(requested_context=authn_context("STORK-QAA-Level-1", comparison="atleast")))


# -- the rest of the request ------------------------------------------------------------------------------------

def test_name_id_policy_and_attribute_consuming_service_index_are_tolerated() -> None:
    request = read(authn_request_xml(extra_attributes=' AttributeConsumingServiceIndex="0" ProviderName="Portal"'))
    assert request.acs_url == ACS


@pytest.mark.parametrize(("acs_url", "acs_index", "expected"), [
    (ACS, None, ACS), (ACS_2, None, ACS_2), (None, None, ACS), (None, 3, ACS_2), (None, 1, ACS), (ACS_2, 3, ACS_2),
])
def test_the_answer_goes_to_a_registered_post_endpoint(acs_url: str | None, acs_index: int | None,
                                                       expected: str) -> None:
    assert read(authn_request_xml(acs_url=acs_url, acs_index=acs_index)).acs_url == expected


@pytest.mark.parametrize(("acs_url", "acs_index"), [
    ("https://evil.example/acs", None), ("https://portal.example.de/saml/acs-redirect", None), (None, 2),
    (None, 9), (ACS, 3), (ACS + "/", None),
])
def test_an_endpoint_not_in_the_metadata_is_refused(acs_url: str | None, acs_index: int | None) -> None:
    error = refused("saml.request.acs_not_registered", authn_request_xml(acs_url=acs_url, acs_index=acs_index))
    assert error.sp is not None and error.acs_url is None  # nowhere safe to answer


def test_a_signed_request_to_an_unregistered_endpoint_is_refused_too() -> None:
    refused("saml.request.acs_not_registered", sign_enveloped(authn_request_xml(acs_url="https://evil.example/")))


def test_only_http_post_answers_are_offered() -> None:
    error = refused("saml.request.unsupported_binding",
                    authn_request_xml(protocol_binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"))
    assert error.saml_status == (STATUS_RESPONDER, STATUS_UNSUPPORTED_BINDING)
    assert read(authn_request_xml(protocol_binding=None)).acs_url == ACS


def test_an_unknown_portal_is_refused() -> None:
    refused("saml.request.unknown_sp", authn_request_xml(issuer="https://unknown.example.de/saml"))
    refused("saml.request.unknown_sp", sign_enveloped(authn_request_xml(issuer="https://unknown.example.de/saml")))


def test_the_issuer_is_read_without_surrounding_space_and_in_entity_format() -> None:
    xml = authn_request_xml(issuer=f"\n  {ENTITY_ID}\n ")
    assert read(xml).issuer == ENTITY_ID
    entity = xml.replace(b"<saml:Issuer>", b'<saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">')
    assert read(entity).issuer == ENTITY_ID
    refused("saml.request.malformed", xml.replace(
        b"<saml:Issuer>", b'<saml:Issuer Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">'))
    refused("saml.request.malformed", xml.replace(b"<saml:Issuer>", b"<saml:Issuer></saml:Issuer><saml:Issuer>"))


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_a_request_id_is_used_once(binding: str) -> None:
    remember = Replay()
    query = redirect_query(authn_request_xml()) if binding == "redirect" else None
    read(authn_request_xml(), binding=binding, raw_query=query, remember=remember)
    error = refused("saml.request.replayed", authn_request_xml(), binding=binding, raw_query=query,
                    remember=remember)
    assert error.acs_url == ACS
    (ttl,) = remember.seen.values()
    assert ttl >= 300 + 60  # at least as long as the request would be accepted


def test_the_same_id_from_another_portal_is_not_a_replay() -> None:
    remember = Replay()
    other = authn_sp("https://other.example.de/saml")
    read(authn_request_xml(), remember=remember)
    read(authn_request_xml(issuer=other.entity_id), sp=other, remember=remember)
    assert len(remember.seen) == 2


def test_a_refused_request_does_not_use_up_its_id() -> None:
    remember = Replay()
    refused("saml.request.signature_invalid", signed_v2(issue_instant=REQUEST_TIME).replace(b"BMI-A1234", b"x"),
            remember=remember)
    assert remember.seen == {}


@pytest.mark.parametrize(("age", "accepted"), [
    (timedelta(0), True), (timedelta(seconds=359), True), (timedelta(seconds=361), False),
    (timedelta(seconds=-59), True), (timedelta(seconds=-61), False), (timedelta(days=-400), False),
])
def test_the_issue_instant_must_be_recent(age: timedelta, accepted: bool) -> None:
    xml = sign_enveloped(authn_request_xml(issue_instant=REQUEST_TIME - age))
    if accepted:
        assert read(xml).issue_instant == REQUEST_TIME - age
    else:
        refused("saml.request.expired", xml)


@pytest.mark.parametrize("instant", ["", "2026-03-02", "2026-03-02 09:30:00Z", "2026-13-02T09:30:00Z", "now"])
def test_an_unreadable_issue_instant_is_malformed(instant: str) -> None:
    xml = authn_request_xml().replace(b'IssueInstant="2026-03-02T09:30:00.000Z"', f'IssueInstant="{instant}"'.encode())
    refused("saml.request.malformed", xml)


def test_issue_instants_with_offsets_or_without_zone_are_read_as_utc() -> None:
    for instant in ("2026-03-02T10:30:00+01:00", "2026-03-02T09:30:00", "2026-03-02T09:30:00.123456789Z"):
        xml = authn_request_xml().replace(b"2026-03-02T09:30:00.000Z", instant.encode())
        assert abs((read(xml).issue_instant - REQUEST_TIME).total_seconds()) < 1


def test_the_destination_must_be_our_sso_url() -> None:
    refused("saml.request.wrong_destination", authn_request_xml(destination="https://id.bund.de/idp/SSO"))
    assert read(authn_request_xml(destination=None)).id  # an unsigned request need not name it
    refused("saml.request.wrong_destination", sign_enveloped(authn_request_xml(destination=None)))
    other = "https://id.example.de/saml/sso/post"
    assert read(sign_enveloped(authn_request_xml(destination=other)), sso_url=(SSO_URL, other)).signed


@pytest.mark.parametrize(("xml", "code"), [
    (authn_request_xml(version="1.1"), "saml.request.version_mismatch"),
    (authn_request_xml(version="2.0").replace(b' Version="2.0"', b""), "saml.request.malformed"),
    (authn_request_xml(request_id=""), "saml.request.malformed"),
    (authn_request_xml(request_id="x" * 257), "saml.request.malformed"),
    (authn_request_xml().replace(b"<saml:Issuer>" + ENTITY_ID.encode() + b"</saml:Issuer>", b""),
     "saml.request.malformed"),
    (authn_request_xml(force_authn="yes"), "saml.request.malformed"),
    (authn_request_xml(root_tag="samlp:LogoutRequest"), "saml.request.malformed"),
    (authn_request_xml().replace(SAMLP_NS.encode(), b"urn:oasis:names:tc:SAML:1.0:protocol"),
     "saml.request.malformed"),
    (b"", "saml.request.malformed"),
    (b"not xml", "saml.request.malformed"),
    (b'<?xml version="1.0" encoding="x-unknown"?><a/>', "saml.request.malformed"),
    (authn_request_xml()[:-20], "saml.request.malformed"),
])
def test_what_is_not_an_authn_request_is_refused(xml: bytes, code: str) -> None:
    refused(code, xml)
    refused(code, xml, binding="redirect")


def test_the_version_mismatch_carries_its_saml_status() -> None:
    error = refused("saml.request.version_mismatch", authn_request_xml(version="3.0"))
    assert error.saml_status == ("urn:oasis:names:tc:SAML:2.0:status:VersionMismatch",)


def test_transport_encoding_errors_are_malformed() -> None:
    refused("saml.request.malformed", params={})
    refused("saml.request.malformed", params={"SAMLRequest": "***"})
    refused("saml.request.malformed", binding="redirect", raw_query="SAMLRequest=%2A%2A%2A")
    plain = base64.b64encode(authn_request_xml()).decode()  # POST encoding sent by Redirect: not DEFLATE
    refused("saml.request.malformed", binding="redirect", raw_query="SAMLRequest=" + plain.replace("+", "%2B"))
    truncated = base64.b64encode(deflate(authn_request_xml())[:-10]).decode()
    refused("saml.request.malformed", binding="redirect", raw_query="SAMLRequest=" + truncated.replace("+", "%2B"))
    refused("saml.request.malformed", authn_request_xml(), relay_state="r" * 2049)


def test_transport_leniencies() -> None:
    """Line breaks in POST base64, an unencoded `+` in a Redirect query, a zlib header instead of raw DEFLATE."""
    encoded = base64.encodebytes(authn_request_xml()).decode()
    assert "\n" in encoded
    assert read(params={"SAMLRequest": encoded}).id
    zlib_wrapped = redirect_query(authn_request_xml(), sign=False, deflated=zlib.compress(authn_request_xml()))
    assert read(binding="redirect", raw_query=zlib_wrapped).id
    raw = "SAMLRequest=" + base64.b64encode(deflate(authn_request_xml())).decode().replace("/", "%2F").replace("=", "")
    assert read(binding="redirect", raw_query=raw).id


def test_the_caller_must_say_what_came() -> None:
    with pytest.raises(ValueError, match="binding"):
        read(authn_request_xml(), binding="artifact")
    with pytest.raises(ValueError, match="raw query"):
        read_authn_request(binding="redirect", params={}, raw_query=None, lookup_sp=lambda _: None,
                           remember_id=Replay(), now=REQUEST_TIME, sso_url=SSO_URL)
    with pytest.raises(ValueError, match="time zone"):
        read(authn_request_xml(), now=datetime(2026, 3, 2, 9, 30))  # noqa: DTZ001


# -- signature wrapping -------------------------------------------------------------------------------------------

def _signed_tree() -> etree._Element:
    return etree.fromstring(signed_v2(force_authn="false"))


def _evil(request_id: str = "_evil") -> etree._Element:
    return etree.fromstring(authn_request_xml(request_id=request_id, acs_url=ACS_2, force_authn="true"))


def _extensions(root: etree._Element) -> etree._Element:
    found = root.find(f"{{{SAMLP_NS}}}Extensions")
    if found is None:
        found = etree.Element(f"{{{SAMLP_NS}}}Extensions")
        root.insert(1, found)
    return found


def _signature(root: etree._Element) -> etree._Element:
    signature = root.find(f"{{{DS_NS}}}Signature")
    assert signature is not None
    return signature


def wrapped_around_with_the_signature_moved_up() -> bytes:
    original, evil = _signed_tree(), _evil()
    signature = _signature(original)
    original.remove(signature)
    evil.insert(1, signature)
    _extensions(evil).append(original)
    return etree.tostring(evil)


def wrapped_around_with_the_signature_left_inside() -> bytes:
    evil = _evil()
    _extensions(evil).append(_signed_tree())
    return etree.tostring(evil)


def signed_element_beside_the_evil_one() -> bytes:
    original, evil = _signed_tree(), _evil()
    signature = _signature(original)
    original.remove(signature)
    evil.insert(1, signature)
    evil.append(original)  # a sibling of the signature, outside Extensions
    return etree.tostring(evil)


def evil_root_with_the_same_id() -> bytes:
    original = _signed_tree()
    evil = _evil(original.get("ID") or "")
    evil.insert(1, copy.deepcopy(_signature(original)))
    original.remove(_signature(original))
    _extensions(evil).append(original)
    return etree.tostring(evil)


def evil_root_with_the_same_id_in_another_attribute_name() -> bytes:
    original = _signed_tree()
    evil = _evil(original.get("ID") or "")
    evil.insert(1, copy.deepcopy(_signature(original)))
    holder = etree.SubElement(_extensions(evil), "{urn:x-evil}Holder", Id=original.get("ID") or "")
    original.remove(_signature(original))
    holder.append(original)
    return etree.tostring(evil)


def both_in_an_envelope() -> bytes:
    envelope = etree.Element("{urn:x-evil}Envelope")
    envelope.append(_evil())
    envelope.append(_signed_tree())
    return etree.tostring(envelope)


def a_second_signature() -> bytes:
    original = _signed_tree()
    extra = copy.deepcopy(_signature(original))
    _extensions(original).append(extra)
    return etree.tostring(original)


def whole_document_reference() -> bytes:
    original = _signed_tree()
    reference = _signature(original).find(f"{{{DS_NS}}}SignedInfo/{{{DS_NS}}}Reference")
    assert reference is not None
    reference.set("URI", "")
    return etree.tostring(original)


@pytest.mark.parametrize("attack", [
    wrapped_around_with_the_signature_moved_up, wrapped_around_with_the_signature_left_inside,
    signed_element_beside_the_evil_one, evil_root_with_the_same_id,
    evil_root_with_the_same_id_in_another_attribute_name, a_second_signature, whole_document_reference,
])
@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_signature_wrapping_is_refused(attack, binding: str) -> None:  # type: ignore[no-untyped-def]
    refused("saml.request.signature_invalid", attack(), binding=binding)


def test_a_document_wrapping_two_requests_is_not_an_authn_request() -> None:
    refused("saml.request.malformed", both_in_an_envelope())


def test_a_comment_in_the_issuer_cannot_shorten_what_is_read() -> None:
    """Comments are outside exclusive c14n, so the signature still holds; the parser drops them, so the
    text is read whole (the comment-truncation attack on NameIDs, applied to the Issuer)."""
    xml = signed_v2()
    host, rest = ENTITY_ID.split("/saml/")
    commented = xml.replace(ENTITY_ID.encode(), f"{host}<!-- x -->/saml/{rest}".encode(), 1)
    assert commented != xml
    request = read(commented)
    assert request.signed and request.issuer == ENTITY_ID


# -- hostile XML --------------------------------------------------------------------------------------------------

HOSTILE = {
    "xxe": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:AuthnRequest>',
    "parameter entity": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]>'
                        b"<r/>",
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                      + b"".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
                                 for i in range(1, 10))
                      + b"]><lolz>&lol9;</lolz>",
    "external dtd": b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><r/>',
    "utf-16 doctype": '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>'.encode(
        "utf-16"),
    "xinclude": b'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
                b'xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="file:///etc/passwd"/>'
                b"</samlp:AuthnRequest>",
}


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_hostile_xml_is_refused(name: str, binding: str) -> None:
    refused("saml.request.malformed", HOSTILE[name], binding=binding)


def test_a_doctype_inside_a_signed_looking_request_is_refused() -> None:
    xml = signed_v2()
    refused("saml.request.malformed", b'<!DOCTYPE r [<!ENTITY x "y">]>' + xml)


def test_a_deflate_bomb_stops_at_the_limit() -> None:
    bomb = deflate(b"<a>" + b" " * (64 * 1024 * 1024) + b"</a>")  # 64 MiB from about 64 KiB
    assert len(bomb) < MAX_REQUEST_BYTES
    raw = "SAMLRequest=" + base64.b64encode(bomb).decode().replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    refused("saml.request.too_large", binding="redirect", raw_query=raw)


def test_oversized_requests_are_refused_before_parsing() -> None:
    big = authn_request_xml(extra_children="<!--" + "x" * MAX_REQUEST_BYTES + "-->")
    refused("saml.request.too_large", big)
    refused("saml.request.too_large", big, binding="redirect")
    refused("saml.request.too_large", params={"SAMLRequest": "A" * (MAX_REQUEST_BYTES * 2)})


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=2048), relay=st.one_of(st.none(), st.text(max_size=50)))
def test_any_post_body_is_read_or_refused_with_a_saml_error(data: bytes, relay: str | None) -> None:
    for body in (data, b'<samlp:AuthnRequest xmlns:samlp="' + SAMLP_NS.encode() + b'" ' + data):
        with contextlib.suppress(SamlRequestInvalid):
            read(body, relay_state=relay)


@settings(max_examples=150, deadline=None)
@given(query=st.text(max_size=500))
def test_any_redirect_query_is_read_or_refused_with_a_saml_error(query: str) -> None:
    for raw in (query, "SAMLRequest=" + query, redirect_query(authn_request_xml(), relay_state="s") + query):
        with contextlib.suppress(SamlRequestInvalid):
            read(binding="redirect", raw_query=raw)


@settings(max_examples=100, deadline=None)
@given(position=st.integers(min_value=0), byte=st.integers(min_value=0, max_value=255))
def test_any_single_byte_change_to_a_signed_request_is_refused_or_harmless(position: int, byte: int) -> None:
    xml = bytearray(signed_v2(force_authn="false"))
    xml[position % len(xml)] = byte
    try:
        request = read(bytes(xml))
    except SamlRequestInvalid:
        return
    if request.signed:  # then the change was outside the signed content's canonical form
        assert (request.online_service_id, request.acs_url, request.force_authn) == ("BMI-A1234", ACS, False)
    else:  # the signature's namespace was changed: an unsigned request, whose extension counts for nothing
        assert request.extension_ignored and request.requested == () and request.online_service_id is None


# -- BundID's documented examples (Schnittstellenbeschreibung §10.1), re-signed with the portal's key ---------

def bundid_sp(signed_requests: bool = True) -> SamlServiceProvider:
    return authn_sp(BUNDID_EXAMPLE_SP, signed_requests=signed_requests,
                    endpoints=acs(BUNDID_EXAMPLE_ACS, POST, 0, True))


def test_bundids_example_request_version_1() -> None:
    request = read(sign_enveloped(BUNDID_EXAMPLE_V1), sp=bundid_sp(), sso_url=BUNDID_EXAMPLE_SSO,
                   now=BUNDID_EXAMPLE_V1_TIME + timedelta(seconds=5))
    assert (request.id, request.issuer, request.acs_url) == (
        "79c01d07-5c07-46d8-ba7a-4f96e6a1f6e3", BUNDID_EXAMPLE_SP, BUNDID_EXAMPLE_ACS)
    assert (request.signed, request.force_authn, request.is_passive) == (True, True, False)
    assert (request.min_level, request.level_vocabulary) == (TrustLevel.BASIC, Vocabulary.STORK)
    assert request.akdb_version == 1 and not request.extension_ignored
    assert request.authn_methods == ("eID", "eIDAS", "Benutzername")
    assert request.requested == (("pseudonym", False),)
    assert request.unknown_attributes == ((POSTKORB, False),)  # legacyPostkorbHandle: no mailbox here
    assert request.display_name == "Der Name des Onlinedienstes kann hier gesetzt werden"
    assert request.lang is None  # the example's placeholder text is not a language
    assert request.back_url == "https://www.example.com/eine-url-zurueck?auch-mit=parametern"
    assert request.online_service_id == ("Eine Onlinedienst-ID (fachliche Verwendung noch offen - also aktuell noch "
                                         "nicht relevant)")
    assert not request.enable_status_detail
    assert request.issue_instant == BUNDID_EXAMPLE_V1_TIME


def test_bundids_example_request_version_2() -> None:
    request = read(sign_enveloped(BUNDID_EXAMPLE_V2), sp=bundid_sp(), sso_url=BUNDID_EXAMPLE_SSO,
                   now=BUNDID_EXAMPLE_V2_TIME + timedelta(seconds=5), require_akdb_v2=True)
    assert request.id == "64e1f1b9-acf9-4076-b727-2833cd01200f"
    assert request.akdb_version == 2 and request.enable_status_detail
    assert request.authn_methods == ("Authega", "Benutzername", "Diia", "eID", "eIDAS", "Elster", "FINK")
    assert request.requested == (
        ("gender", False), ("pseudonym", True), ("place_of_birth", False), ("street_address", False),
        ("postal_code", False), ("country", False), ("birth_name", False), ("nationality", False),
        ("academic_title", False), ("locality", False), ("trust_level", False), ("given_name", False),
        ("family_name", False), ("birthdate", False), ("email", False))
    assert request.unknown_attributes == ((BPK, False), (POSTKORB, True))
    assert request.min_level == TrustLevel.BASIC
    assert request.display_name == "Der Name des Onlinedienstes kann hier gesetzt werden"


def test_bundids_example_unsigned_is_read_without_its_extension() -> None:
    request = read(BUNDID_EXAMPLE_V2, sp=bundid_sp(signed_requests=False), sso_url=BUNDID_EXAMPLE_SSO,
                   now=BUNDID_EXAMPLE_V2_TIME)
    assert request.extension_ignored and request.requested == () and request.min_level == TrustLevel.BASIC


def test_bundids_example_by_redirect() -> None:
    query = redirect_query(BUNDID_EXAMPLE_V2, relay_state="abc", algorithm=PSS)
    request = read(binding="redirect", raw_query=query, sp=bundid_sp(), sso_url=BUNDID_EXAMPLE_SSO,
                   now=BUNDID_EXAMPLE_V2_TIME)
    assert request.signed and request.akdb_version == 2 and len(request.requested) == 15


# -- an independent SP library: pysaml2 ---------------------------------------------------------------------------

@pytest.fixture
def pysaml2_client(tmp_path: Path):  # type: ignore[no-untyped-def]
    """pysaml2 as the portal: it builds the AuthnRequest and signs the Redirect query in process (its XML
    signatures would need the xmlsec1 program, so POST requests from it go unsigned)."""
    config_module = pytest.importorskip("saml2.config")
    client_module = pytest.importorskip("saml2.client")
    from cryptography.hazmat.primitives import serialization

    key, cert = request_signing_key()
    (tmp_path / "key.pem").write_bytes(private_key_pem(key))  # type: ignore[arg-type]
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "idp.xml").write_text(
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        'entityID="https://id.example.de/saml/metadata"><md:IDPSSODescriptor '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f'<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{SSO_URL}"/>'
        f'<md:SingleSignOnService Binding="{POST}" Location="{SSO_URL}"/>'
        "</md:IDPSSODescriptor></md:EntityDescriptor>")
    config = config_module.SPConfig()
    config.load({
        "entityid": ENTITY_ID, "key_file": str(tmp_path / "key.pem"), "cert_file": str(tmp_path / "cert.pem"),
        "service": {"sp": {"endpoints": {"assertion_consumer_service": [(ACS, POST)]},
                           "authn_requests_signed": True}},
        "metadata": {"local": [str(tmp_path / "idp.xml")]},
    })
    return client_module.Saml2Client(config)


def test_a_pysaml2_redirect_request_signed_by_pysaml2(pysaml2_client) -> None:  # type: ignore[no-untyped-def]
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.xmldsig import SIG_RSA_SHA256

    request_id, request = pysaml2_client.create_authn_request(SSO_URL, binding=BINDING_HTTP_POST, force_authn="true",
                                                                sign=False)
    info = pysaml2_client.apply_binding(BINDING_HTTP_REDIRECT, str(request), SSO_URL, relay_state="pysaml2-state",
                                        sign=True, sigalg=SIG_RSA_SHA256)
    location = dict(info["headers"])["Location"]
    raw_query = location.split("?", 1)[1]
    result = read(binding="redirect", raw_query=raw_query, sp=authn_sp(signed_requests=True),
                  now=datetime.now(UTC))
    assert (result.id, result.signed, result.relay_state, result.acs_url) == (request_id, True, "pysaml2-state", ACS)
    assert result.force_authn


def test_a_pysaml2_post_request(pysaml2_client) -> None:  # type: ignore[no-untyped-def]
    from saml2 import BINDING_HTTP_POST

    request_id, request = pysaml2_client.create_authn_request(SSO_URL, binding=BINDING_HTTP_POST, sign=False)
    result = read(str(request).encode(), relay_state="state", now=datetime.now(UTC))
    assert (result.id, result.signed, result.acs_url, result.relay_state) == (request_id, False, ACS, "state")
    refused("saml.request.unsigned", str(request).encode(), sp=authn_sp(signed_requests=True),
            now=datetime.now(UTC))
