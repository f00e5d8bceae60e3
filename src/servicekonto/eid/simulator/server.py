"""The simulated eID server: `useID` and `getResult` over SOAP on `/eid-simulator/soap`, state in the
ephemeral store (so it works with several processes). `present` and `cancel` stand in for the PAOS
conversation between eID client and eID server: the simulator's client page calls them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.core.ids import random_token
from servicekonto.domain.eid import EidPersonalData, EidRequest, EidSession
from servicekonto.domain.ports import EphemeralStore
from servicekonto.eid import soap
from servicekonto.eid.simulator.identities import BY_KEY, TEST_PIN

SOAP_PATH = "/eid-simulator/soap"
PAOS_PATH = "/eid-simulator/paos"  # named in the TC token; the simulator's client never calls it
SESSION_TTL = 600.0

# Which `EidPersonalData` fields each operation releases.
_FIELDS = {
    "DocumentType": ("document_type",), "IssuingState": ("issuing_state",), "DateOfExpiry": ("date_of_expiry",),
    "GivenNames": ("given_names",), "FamilyNames": ("family_names",), "AcademicTitle": ("academic_title",),
    "DateOfBirth": ("date_of_birth",), "PlaceOfBirth": ("place_of_birth",), "Nationality": ("nationality",),
    "BirthName": ("birth_name",), "PlaceOfResidence": ("street", "zip_code", "city", "country"),
    "CommunityID": ("community_id",), "ResidencePermitI": ("residence_permit",),
}


class SimulatedEidServer:
    def __init__(self, *, store: EphemeralStore, base_url: str) -> None:
        self._store = store
        self._base = base_url.rstrip("/")

    def _key(self, session_id: str) -> str:
        return f"eid-sim:{session_id}"

    def _load(self, session_id: str) -> dict[str, object] | None:
        if not session_id or len(session_id) > 64:
            return None
        raw = self._store.get(self._key(session_id))
        return json.loads(raw) if raw else None

    def _save(self, session_id: str, state: dict[str, object]) -> None:
        self._store.put(self._key(session_id), json.dumps(state).encode(), SESSION_TTL)

    # -- the SOAP operations ---------------------------------------------------------------------------------

    def use_id(self, request: EidRequest) -> EidSession:
        session = EidSession(session_id=random_token(24), server_address=self._base + PAOS_PATH,
                             psk_id=random_token(16), psk_key=random_token(32).encode().hex()[:64])
        self._save(session.session_id, {"operations": {k: v.value for k, v in request.operations.items()},
                                        "age": request.age, "counter": 0, "outcome": None})
        return session

    def get_result(self, session_id: str, counter: int) -> tuple[EidPersonalData | None, soap.Result]:
        state = self._load(session_id)
        if state is None:
            return None, soap.Result(soap.MAJOR_ERROR, soap.MINOR_INVALID_SESSION)
        if counter <= int(state["counter"]):  # type: ignore[call-overload]
            return None, soap.Result(soap.MAJOR_ERROR, soap.MINOR_INVALID_COUNTER)
        state["counter"] = counter
        outcome = state["outcome"]
        if outcome is None:
            self._save(session_id, state)
            return None, soap.Result(soap.MAJOR_ERROR, soap.MINOR_NO_RESULT_YET)
        self._store.delete(self._key(session_id))  # a result is handed out once
        if isinstance(outcome, str):
            return None, soap.Result(soap.MAJOR_ERROR, outcome)
        card = BY_KEY[str(outcome["card"])]  # type: ignore[index]
        return self._released(card.data, state), soap.OK

    @staticmethod
    def _released(data: EidPersonalData, state: dict[str, object]) -> EidPersonalData:
        """Only what was asked for (REQUIRED or ALLOWED; the simulated citizen deselects nothing)."""
        asked = set(state["operations"])  # type: ignore[call-overload]
        cleared = {f: None for op, fields in _FIELDS.items() if op not in asked for f in fields}
        age = state.get("age")
        fulfils_age = None
        if "AgeVerification" in asked and isinstance(age, int) and data.date_of_birth:
            fulfils_age = data.date_of_birth <= _years_ago(age)
        return replace(data, **cleared, fulfils_age=fulfils_age)

    # -- what the eID client does (PAOS in real life) --------------------------------------------------------

    def pending(self, session_id: str) -> bool:
        state = self._load(session_id)
        return state is not None and state["outcome"] is None

    def present(self, session_id: str, card_key: str, pin: str) -> str | None:
        """The citizen presents a card with a PIN. Returns the ResultMinor of a failure, None on success."""
        state = self._load(session_id)
        card = BY_KEY.get(card_key)
        if state is None or state["outcome"] is not None or card is None:
            return soap.MINOR_INTERNAL
        if card.blocked:
            minor: str | None = soap.MINOR_PIN_BLOCKED
        elif pin != TEST_PIN:
            minor = soap.MINOR_WRONG_PIN
        elif card.expired:
            minor = soap.MINOR_EXPIRED
        else:
            minor = None
        state["outcome"] = minor if minor else {"card": card.key}
        self._save(session_id, state)
        return minor

    def cancel(self, session_id: str) -> None:
        state = self._load(session_id)
        if state is not None and state["outcome"] is None:
            state["outcome"] = soap.MINOR_CANCELLED
            self._save(session_id, state)

    # -- HTTP ------------------------------------------------------------------------------------------------

    async def endpoint(self, request: Request) -> Response:
        raw = await _bounded_body(request)
        try:
            element = soap.parse_body(raw) if raw is not None else None
            if element is None:
                raise soap.SoapInvalid("no body")
            if element.tag == f"{{{soap.EID}}}useIDRequest":
                body = soap.use_id_response(self.use_id(soap.read_use_id_request(element)), soap.OK)
            elif element.tag == f"{{{soap.EID}}}getResultRequest":
                body = soap.get_result_response(*self.get_result(*soap.read_get_result_request(element)))
            else:
                raise soap.SoapInvalid("unknown operation")
        except soap.SoapInvalid as exc:
            return Response(soap.fault(str(exc)), status_code=500, media_type="text/xml")
        return Response(body, media_type="text/xml; charset=utf-8")

    def routes(self) -> list[Route]:
        return [Route(SOAP_PATH, self.endpoint, methods=["POST"], name="eid_simulator_soap")]


async def _bounded_body(request: Request) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > soap.MAX_MESSAGE:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _years_ago(years: int) -> str:
    today = datetime.now(UTC).date()
    try:
        return today.replace(year=today.year - years).isoformat()
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28).isoformat()

