"""Per-service settings a tenant admin gives its OIDC clients and SAML SPs (issue #7): which catalogue
attributes a service may receive, which login methods it accepts, and the trust level it needs at least.

Both protocols apply them in one place each, where they build the AuthRequest: requested attributes outside
the allowed set are dropped (never released; a SAML request that *requires* one is refused when answered,
as for any attribute that cannot be delivered), and the service's floor raises the request's level.

Allowed methods are enforced through that floor: a service that accepts only the ID card needs level 4
(only the eID reaches it), one without password logins needs level 2. Finer rules (e.g. "passkey, not
TOTP" at the same level) are stored and shown, not enforced.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from servicekonto.core.errors import InvalidInput
from servicekonto.core.i18n import _l
from servicekonto.domain.attributes import CATALOGUE
from servicekonto.domain.auth_request import RequestedAttribute
from servicekonto.domain.trust import TrustLevel

# Technical keys are part of every answer (pseudonym, level, how it was proved); they are not "attributes" a
# service could be denied.
TECHNICAL_KEYS = frozenset({"pseudonym", "trust_level", "version", "proved_by", "mfa"})
RESTRICTABLE_KEYS: tuple[str, ...] = tuple(d.key for d in CATALOGUE if d.key not in TECHNICAL_KEYS)

# The level each method reaches on its own at least (DESIGN.md §2): a password alone is level 1, an
# authenticator app or a passkey come with level 2, the ID card with level 4.
METHOD_FLOORS: dict[str, TrustLevel] = {
    "password": TrustLevel.BASIC,
    "totp": TrustLevel.LOW,
    "passkey": TrustLevel.LOW,
    "eid": TrustLevel.HIGH,
}
METHODS: tuple[str, ...] = tuple(METHOD_FLOORS)


class ServiceSettingsInvalid(InvalidInput):
    code = "service.settings_invalid"
    message = _l("The settings of the service are not valid.")
    field = "name"  # the console's form field it concerns


class AttributesInvalid(ServiceSettingsInvalid):
    code = "service.attributes_invalid"
    message = _l("Only attributes of the catalogue can be allowed.")
    field = "allowed_attributes"


class MethodsInvalid(ServiceSettingsInvalid):
    code = "service.methods_invalid"
    message = _l("Allow at least one of the login methods: password, authenticator app, passkey, ID card.")
    field = "allowed_methods"


class TrustLevelInvalid(ServiceSettingsInvalid):
    code = "service.trust_level_invalid"
    message = _l("The minimum trust level is 1, 2, 3 or 4.")
    field = "min_trust_level"


def check_allowed_attributes(keys: Iterable[str] | None) -> tuple[str, ...] | None:
    """None means every catalogue attribute; otherwise known keys only, in catalogue order."""
    if keys is None:
        return None
    wanted = {k.strip() for k in keys if k.strip()}
    unknown = sorted(wanted - set(RESTRICTABLE_KEYS))
    if unknown:
        raise AttributesInvalid(f"unknown attributes: {', '.join(u[:40] for u in unknown[:5])}; known: "
                                     f"{', '.join(RESTRICTABLE_KEYS)}")
    return tuple(k for k in RESTRICTABLE_KEYS if k in wanted)


def check_allowed_methods(methods: Iterable[str] | None) -> tuple[str, ...] | None:
    """None means every method; otherwise at least one known method."""
    if methods is None:
        return None
    wanted = {m.strip() for m in methods if m.strip()}
    unknown = sorted(wanted - set(METHODS))
    if unknown:
        raise MethodsInvalid(f"unknown methods: {', '.join(u[:40] for u in unknown[:5])}; known: "
                                     f"{', '.join(METHODS)}")
    if not wanted:
        raise MethodsInvalid("allow at least one login method")
    return tuple(m for m in METHODS if m in wanted)


def check_min_trust_level(level: int) -> TrustLevel:
    try:
        return TrustLevel(level)
    except ValueError:
        raise TrustLevelInvalid("the minimum trust level is 1, 2, 3 or 4") from None


def service_floor(min_trust_level: TrustLevel, allowed_methods: Sequence[str] | None) -> TrustLevel:
    """The lowest level a login for this service may have: its minimum, raised to the lowest level any of its
    allowed methods reaches (so "eid only" means level 4)."""
    if not allowed_methods:
        return min_trust_level
    by_methods = min(METHOD_FLOORS.get(m, TrustLevel.BASIC) for m in allowed_methods)
    return max(min_trust_level, by_methods)


def restrict_attributes(requested: Iterable[RequestedAttribute],
                        allowed: Sequence[str] | None) -> list[RequestedAttribute]:
    """The requested attributes this service may receive at all."""
    if allowed is None:
        return list(requested)
    permitted = set(allowed)
    return [a for a in requested if a.key in permitted]
