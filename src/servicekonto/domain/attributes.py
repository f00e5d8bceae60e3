"""The attribute catalogue (DESIGN.md §3): one table; protocols look names up here and never spell a
URN themselves. Also where each stored value came from (its source) and what trust that source carries."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from servicekonto.domain.trust import TrustLevel


@dataclass(frozen=True, slots=True)
class AttributeDefinition:
    key: str
    oidc_claim: str | None
    saml_name: str | None
    saml_friendly_name: str | None
    eidas_name: str | None
    eid_name: str | None
    autocomplete: str | None = None  # the HTML token of a form field for it (WCAG 1.3.5)
    master_data: bool = False  # kept in the citizen's Stammdaten and editable in self-service


EIDAS_LEGAL = "http://eidas.europa.eu/attributes/legalperson/"
ORGANISATION = "urn:servicekonto:organisation:"

CATALOGUE: tuple[AttributeDefinition, ...] = (
    AttributeDefinition("academic_title", "title", "urn:oid:0.9.2342.19200300.100.1.40", "personalTitle", None,
                        "AcademicTitle", "honorific-prefix", True),
    AttributeDefinition("given_name", "given_name", "urn:oid:2.5.4.42", "givenName", "CurrentGivenName",
                        "GivenNames", "given-name", True),
    AttributeDefinition("family_name", "family_name", "urn:oid:2.5.4.4", "surname", "CurrentFamilyName",
                        "FamilyNames", "family-name", True),
    AttributeDefinition("birth_name", "birth_family_name", "urn:oid:1.2.40.0.10.2.1.1.225566", "birthName",
                        "BirthName", "BirthName", "off", True),
    AttributeDefinition("birthdate", "birthdate", "urn:oid:1.2.40.0.10.2.1.1.55", "birthdate", "DateOfBirth",
                        "DateOfBirth", "bday", True),
    AttributeDefinition("place_of_birth", "place_of_birth", "urn:oid:1.3.6.1.5.5.7.9.2", "placeOfBirth",
                        "PlaceOfBirth", "PlaceOfBirth", "off", True),
    AttributeDefinition("nationality", "nationalities", "urn:oid:1.2.40.0.10.2.1.1.225577", "nationality",
                        "Nationality", "Nationality", "off", True),
    AttributeDefinition("gender", "gender", "urn:oid:1.3.6.1.4.1.33592.1.3.5", "gender", "Gender", None,
                        "sex", True),
    AttributeDefinition("street_address", "address.street_address", "urn:oid:2.5.4.16", "postalAddress",
                        "CurrentAddress", "PlaceOfResidence/Street", "street-address", True),
    AttributeDefinition("postal_code", "address.postal_code", "urn:oid:2.5.4.17", "postalCode", None,
                        "PlaceOfResidence/ZipCode", "postal-code", True),
    AttributeDefinition("locality", "address.locality", "urn:oid:2.5.4.7", "localityName", None,
                        "PlaceOfResidence/City", "address-level2", True),
    AttributeDefinition("country", "address.country", "urn:oid:1.2.40.0.10.2.1.1.225599", "country", None,
                        "PlaceOfResidence/Country", "country", True),
    AttributeDefinition("phone", "phone_number", "urn:oid:2.5.4.20", "telephoneNumber", "PhoneNumber", None,
                        "tel", True),
    AttributeDefinition("de_mail", "de_mail", "urn:oid:1.3.6.1.4.1.55605.70737875.1.1.1.7.1", "DeMail", None,
                        None, "email", True),
    AttributeDefinition("email", "email", "urn:oid:0.9.2342.19200300.100.1.3", "mail", "EmailAddress", None,
                        "email"),
    AttributeDefinition("document_type", "document_type", "urn:oid:1.2.40.0.10.2.1.1.552255", "documentType",
                        None, "DocumentType"),
    AttributeDefinition("community_id", "community_id", "urn:oid:1.3.6.1.4.1.25484.494450.5", "communityId",
                        None, "CommunityID"),
    AttributeDefinition("pseudonym", "sub", "urn:oid:1.3.6.1.4.1.25484.494450.3", "bPK2", "PersonIdentifier",
                        None),
    AttributeDefinition("trust_level", "acr", "urn:oid:1.2.40.0.10.2.1.1.261.94", "EID-CITIZEN-QAA-LEVEL",
                        None, "LevelOfAssurance"),
    AttributeDefinition("version", None, "urn:oid:1.3.6.1.4.1.25484.494450.1", "Version", None, None),
    AttributeDefinition("proved_by", "amr", "urn:oid:1.3.6.1.4.1.25484.494450.2", "AssertionProvedBy", None,
                        None),
    AttributeDefinition("eid_pseudonym", "eid_pseudonym", "urn:oid:1.2.40.0.10.2.1.1.226699", "pseudonym",
                        None, "RestrictedID"),
    AttributeDefinition("mfa", "amr", "urn:oid:1.3.6.1.4.1.25484.494450.7", "mfa", None, None),
    # The organisation a login acts for (issue #10): eIDAS legal-person names where they fit (reference/
    # egov-interfaces.md §4), our own `urn:servicekonto:organisation:` names for the rest (docs/integration).
    AttributeDefinition("org_pseudonym", "organisation.id", EIDAS_LEGAL + "LegalPersonIdentifier",
                        "LegalPersonIdentifier", "LegalPersonIdentifier", None),
    AttributeDefinition("org_name", "organisation.name", EIDAS_LEGAL + "LegalName", "LegalName", "LegalName", None),
    AttributeDefinition("org_address", None, EIDAS_LEGAL + "LegalPersonAddress", "LegalAddress",
                        "LegalPersonAddress", None),
    AttributeDefinition("org_legal_form", "organisation.legal_form", ORGANISATION + "legalForm", "legalForm", None,
                        None),
    AttributeDefinition("org_register_type", "organisation.register.type", ORGANISATION + "registerType",
                        "registerType", None, None),
    AttributeDefinition("org_register_court", "organisation.register.court", ORGANISATION + "registerPlace",
                        "registerPlace", None, None),
    AttributeDefinition("org_register_number", "organisation.register.number", ORGANISATION + "registerNumber",
                        "registerNumber", None, None),
    AttributeDefinition("org_street_address", "organisation.address.street_address", None, None, None, None),
    AttributeDefinition("org_postal_code", "organisation.address.postal_code", None, None, None, None),
    AttributeDefinition("org_locality", "organisation.address.locality", None, None, None, None),
    AttributeDefinition("org_country", "organisation.address.country", None, None, None, None),
    AttributeDefinition("org_roles", "organisation.roles", ORGANISATION + "roles", "roles", None, None),
)

BY_KEY = {definition.key: definition for definition in CATALOGUE}
MASTER_DATA_KEYS: tuple[str, ...] = tuple(d.key for d in CATALOGUE if d.master_data)
# What a login acting for an organisation releases about it (issue #10); the roles are space-separated.
ORGANISATION_KEYS: tuple[str, ...] = tuple(d.key for d in CATALOGUE if d.key.startswith("org_"))
ORGANISATION_ADDRESS_KEYS = ("org_street_address", "org_postal_code", "org_locality", "org_country")


class AttributeSource(enum.StrEnum):
    """Where a stored value came from; it decides the trust level the value carries."""

    SELF_DECLARED = "self_declared"
    EMAIL_VERIFIED = "email_verified"
    EID = "eid"
    EIDAS = "eidas"
    OPERATOR = "operator"

    @property
    def trust_level(self) -> TrustLevel:
        return _SOURCE_TRUST[self]


_SOURCE_TRUST = {
    AttributeSource.SELF_DECLARED: TrustLevel.BASIC,
    AttributeSource.EMAIL_VERIFIED: TrustLevel.LOW,  # BundID marks a verified mail NORMAL
    AttributeSource.EID: TrustLevel.HIGH,
    AttributeSource.EIDAS: TrustLevel.SUBSTANTIAL,  # depends on the scheme; refined per login
    AttributeSource.OPERATOR: TrustLevel.SUBSTANTIAL,
}
