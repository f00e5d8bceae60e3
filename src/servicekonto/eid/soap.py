"""The SOAP messages of the eID server's web-service interface (BSI TR-03130 eID-Server Part 1: Functional
Specification Version 2.4.0, ch. 3.3 Data types), written and read with lxml. The connector (our client) and
the simulator (a server for test systems) share this module, so both speak exactly the same XML.

Results are `dss:Result` (OASIS DSS core) with eCard-API `ResultMajor`/`ResultMinor` URIs (TR-03112)."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from servicekonto.domain.eid import OPERATIONS, EidPersonalData, EidRequest, EidSession, Use
from servicekonto.domain.trust import TrustLevel

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
EID = "http://bsi.bund.de/eID/"
DSS = "urn:oasis:names:tc:dss:1.0:core:schema"
NSMAP = {"soapenv": SOAP, "eid": EID, "dss": DSS}

MAJOR_OK = "http://www.bsi.bund.de/ecard/api/1.1/resultmajor#ok"
MAJOR_ERROR = "http://www.bsi.bund.de/ecard/api/1.1/resultmajor#error"

# ResultMinor URIs. The first is TR-03112's (eCard-API) cancellation by the citizen; the getResult minors are
# TR-03130's. Spelled from the specifications' naming scheme [not verified against a real server's output];
# anything we do not know maps to a communication error, so an unexpected minor can never pass as success.
MINOR_CANCELLED = "http://www.bsi.bund.de/ecard/api/1.1/resultminor/sal#cancellationByUser"
MINOR_WRONG_PIN = "http://www.bsi.bund.de/ecard/api/1.1/resultminor/ifdl/common#pinWrong"
MINOR_PIN_BLOCKED = "http://www.bsi.bund.de/ecard/api/1.1/resultminor/ifdl/common#passwordBlocked"
MINOR_EXPIRED = "http://www.bsi.bund.de/eid/server/2.0/resultminor/getResult#documentValidityVerificationFailed"
MINOR_INVALID_SESSION = "http://www.bsi.bund.de/eid/server/2.0/resultminor/getResult#invalidSession"
MINOR_INVALID_COUNTER = "http://www.bsi.bund.de/eid/server/2.0/resultminor/getResult#invalidCounter"
MINOR_NO_RESULT_YET = "http://www.bsi.bund.de/eid/server/2.0/resultminor/getResult#noResultYet"
MINOR_INTERNAL = "http://www.bsi.bund.de/ecard/api/1.1/resultminor/al/common#internalError"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)
MAX_MESSAGE = 256 * 1024


class SoapInvalid(ValueError):
    """Not a message of this interface (wrong XML, wrong element, missing fields)."""


@dataclass(frozen=True, slots=True)
class Result:
    major: str
    minor: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.major == MAJOR_OK


OK = Result(MAJOR_OK)


def _q(name: str, ns: str = EID) -> str:
    return f"{{{ns}}}{name}"


def _sub(parent: etree._Element, name: str, text: str | None = None, ns: str = EID) -> etree._Element:
    element = etree.SubElement(parent, _q(name, ns))
    if text is not None:
        element.text = text
    return element


def envelope(body_root: etree._Element) -> bytes:
    env = etree.Element(_q("Envelope", SOAP), nsmap=NSMAP)
    etree.SubElement(env, _q("Header", SOAP))
    body = etree.SubElement(env, _q("Body", SOAP))
    body.append(body_root)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def parse_body(raw: bytes) -> etree._Element:
    """The one element inside soapenv:Body."""
    if len(raw) > MAX_MESSAGE:
        raise SoapInvalid("message too large")
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapInvalid("not XML") from exc
    body = root.find(_q("Body", SOAP)) if root.tag == _q("Envelope", SOAP) else None
    children = list(body) if body is not None else []
    if len(children) != 1:
        raise SoapInvalid("no SOAP body")
    return children[0]


def _result(parent: etree._Element, result: Result) -> None:
    element = _sub(parent, "Result", ns=DSS)
    _sub(element, "ResultMajor", result.major, ns=DSS)
    if result.minor:
        _sub(element, "ResultMinor", result.minor, ns=DSS)
    if result.message:
        message = _sub(element, "ResultMessage", result.message, ns=DSS)
        message.set("{http://www.w3.org/XML/1998/namespace}lang", "en")


def read_result(element: etree._Element) -> Result:
    found = element.find(_q("Result", DSS))
    if found is None:
        raise SoapInvalid("no Result")
    major = found.findtext(_q("ResultMajor", DSS))
    if not major:
        raise SoapInvalid("no ResultMajor")
    return Result(major=major.strip(), minor=(found.findtext(_q("ResultMinor", DSS)) or "").strip() or None,
                  message=found.findtext(_q("ResultMessage", DSS)))


def _text(element: etree._Element | None, *path: str) -> str | None:
    for name in path:
        if element is None:
            return None
        element = element.find(_q(name))
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


# -- useID ---------------------------------------------------------------------------------------------------

def use_id_request(request: EidRequest) -> bytes:
    root = etree.Element(_q("useIDRequest"), nsmap=NSMAP)
    operations = _sub(root, "UseOperations")
    for name in OPERATIONS:  # schema order
        use = request.operations.get(name)
        if use is not None:
            _sub(operations, name, use.value)
    if request.age is not None:
        _sub(_sub(root, "AgeVerificationRequest"), "Age", str(request.age))
    if request.community_id is not None:
        _sub(_sub(root, "PlaceVerificationRequest"), "CommunityID", request.community_id)
    if request.level.bsi:
        _sub(root, "LevelOfAssuranceRequest", request.level.bsi)
    return envelope(root)


def read_use_id_request(element: etree._Element) -> EidRequest:
    if element.tag != _q("useIDRequest"):
        raise SoapInvalid("not a useIDRequest")
    operations: dict[str, Use] = {}
    listed = element.find(_q("UseOperations"))
    for child in listed if listed is not None else []:
        name = etree.QName(child).localname
        if name not in OPERATIONS or (child.text or "").strip() not in {"REQUIRED", "ALLOWED"}:
            raise SoapInvalid(f"bad operation {name}")
        operations[name] = Use((child.text or "").strip())
    age = _text(element, "AgeVerificationRequest", "Age")
    level_uri = _text(element, "LevelOfAssuranceRequest")
    parsed = TrustLevel.parse(level_uri) if level_uri else None
    try:
        return EidRequest(operations=operations, level=parsed[0] if parsed else TrustLevel.HIGH,
                          age=int(age) if age else None,
                          community_id=_text(element, "PlaceVerificationRequest", "CommunityID"))
    except ValueError as exc:
        raise SoapInvalid(str(exc)) from exc


def use_id_response(session: EidSession | None, result: Result) -> bytes:
    root = etree.Element(_q("useIDResponse"), nsmap=NSMAP)
    if session is not None:
        _sub(_sub(root, "Session"), "ID", session.session_id)
        if session.server_address:
            _sub(root, "eCardServerAddress", session.server_address)
        if session.psk_id and session.psk_key:
            psk = _sub(root, "PSK")
            _sub(psk, "ID", session.psk_id)
            _sub(psk, "Key", session.psk_key)
    _result(root, result)
    return envelope(root)


def read_use_id_response(element: etree._Element) -> tuple[EidSession | None, Result]:
    if element.tag != _q("useIDResponse"):
        raise SoapInvalid("not a useIDResponse")
    result = read_result(element)
    session_id = _text(element, "Session", "ID")
    if not result.ok:
        return None, result
    if not session_id:
        raise SoapInvalid("no Session/ID")
    return EidSession(session_id=session_id, server_address=_text(element, "eCardServerAddress"),
                      psk_id=_text(element, "PSK", "ID"), psk_key=_text(element, "PSK", "Key")), result


# -- getResult -----------------------------------------------------------------------------------------------

def get_result_request(session_id: str, request_counter: int) -> bytes:
    root = etree.Element(_q("getResultRequest"), nsmap=NSMAP)
    _sub(_sub(root, "Session"), "ID", session_id)
    _sub(root, "RequestCounter", str(request_counter))
    return envelope(root)


def read_get_result_request(element: etree._Element) -> tuple[str, int]:
    if element.tag != _q("getResultRequest"):
        raise SoapInvalid("not a getResultRequest")
    session_id, counter = _text(element, "Session", "ID"), _text(element, "RequestCounter")
    if not session_id or not counter or not counter.isdigit():
        raise SoapInvalid("getResultRequest needs Session/ID and RequestCounter")
    return session_id, int(counter)


def _date_string(iso: str) -> str:
    return iso.replace("-", "")


def get_result_response(data: EidPersonalData | None, result: Result) -> bytes:
    root = etree.Element(_q("getResultResponse"), nsmap=NSMAP)
    if data is not None:
        personal = _sub(root, "PersonalData")
        for name, value in (("DocumentType", data.document_type), ("IssuingState", data.issuing_state),
                            ("DateOfExpiry", data.date_of_expiry), ("GivenNames", data.given_names),
                            ("FamilyNames", data.family_names), ("AcademicTitle", data.academic_title)):
            if value:
                _sub(personal, name, value)
        if data.date_of_birth:
            birth = _sub(personal, "DateOfBirth")
            _sub(birth, "DateString", _date_string(data.date_of_birth))
            _sub(birth, "DateValue", data.date_of_birth)
        if data.place_of_birth:
            _sub(_sub(personal, "PlaceOfBirth"), "FreetextPlace", data.place_of_birth)
        if data.nationality:
            _sub(personal, "Nationality", data.nationality)
        if data.birth_name:
            _sub(personal, "BirthName", data.birth_name)
        if data.city:
            place = _sub(_sub(personal, "PlaceOfResidence"), "StructuredPlace")
            for name, value in (("Street", data.street), ("City", data.city), ("Country", data.country),
                                ("ZipCode", data.zip_code)):
                if value:
                    _sub(place, name, value)
        if data.community_id:
            _sub(personal, "CommunityID", data.community_id)
        if data.residence_permit:
            _sub(personal, "ResidencePermitI", data.residence_permit)
        _sub(_sub(personal, "RestrictedID"), "ID", data.restricted_id)
        if data.fulfils_age is not None:
            _sub(_sub(root, "FulfilsAgeVerification"), "FulfilsRequest", str(data.fulfils_age).lower())
        if data.fulfils_place is not None:
            _sub(_sub(root, "FulfilsPlaceVerification"), "FulfilsRequest", str(data.fulfils_place).lower())
    _result(root, result)
    return envelope(root)


def _iso_date(birth: etree._Element | None) -> str | None:
    value = _text(birth, "DateValue")
    if value:
        return value[:10]
    raw = _text(birth, "DateString")
    if raw and len(raw) == 8 and raw.isdigit():
        return f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"
    return None


def read_get_result_response(element: etree._Element) -> tuple[EidPersonalData | None, Result]:
    if element.tag != _q("getResultResponse"):
        raise SoapInvalid("not a getResultResponse")
    result = read_result(element)
    if not result.ok:
        return None, result
    personal = element.find(_q("PersonalData"))
    restricted = _text(personal, "RestrictedID", "ID")
    if personal is None or not restricted:
        raise SoapInvalid("no PersonalData/RestrictedID")
    place = personal.find(_q("PlaceOfBirth"))
    residence = personal.find(_q("PlaceOfResidence"))
    structured = residence.find(_q("StructuredPlace")) if residence is not None else None

    def fulfils(name: str) -> bool | None:
        value = _text(element, name, "FulfilsRequest")
        return None if value is None else value == "true"

    return EidPersonalData(
        restricted_id=restricted, given_names=_text(personal, "GivenNames"),
        family_names=_text(personal, "FamilyNames"), birth_name=_text(personal, "BirthName"),
        academic_title=_text(personal, "AcademicTitle"), date_of_birth=_iso_date(personal.find(_q("DateOfBirth"))),
        place_of_birth=_text(place, "FreetextPlace") or _text(place, "StructuredPlace", "City"),
        nationality=_text(personal, "Nationality"), document_type=_text(personal, "DocumentType"),
        issuing_state=_text(personal, "IssuingState"), date_of_expiry=(_text(personal, "DateOfExpiry") or "")[:10]
        or None, street=_text(structured, "Street"), zip_code=_text(structured, "ZipCode"),
        city=_text(structured, "City"), country=_text(structured, "Country"),
        community_id=_text(personal, "CommunityID"), residence_permit=_text(personal, "ResidencePermitI"),
        fulfils_age=fulfils("FulfilsAgeVerification"), fulfils_place=fulfils("FulfilsPlaceVerification"),
    ), result


def fault(message: str) -> bytes:
    """A SOAP 1.1 Fault for messages the simulator cannot read."""
    env = etree.Element(_q("Envelope", SOAP), nsmap=NSMAP)
    body = etree.SubElement(env, _q("Body", SOAP))
    fault_element = etree.SubElement(body, _q("Fault", SOAP))
    etree.SubElement(fault_element, "faultcode").text = "soapenv:Client"
    etree.SubElement(fault_element, "faultstring").text = message
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))
