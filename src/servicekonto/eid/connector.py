"""`Tr03130EidServer`: our client of an eID server's SOAP interface (BSI TR-03130 eID-Server Part 1 v2.4.0,
ch. 3 `useID`, `getResult`), over HTTPS with a TLS client certificate (the eID server knows the service by
it). The simulator of a test system is spoken to in exactly the same way, over HTTP.

Every failure becomes one of the `EidFailed` errors of `domain.eid`: the citizen's own (cancelled, wrong PIN,
blocked card, expired document) from the result's ResultMinor, everything else a communication error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx2
import structlog
from lxml import etree

from servicekonto.domain.eid import (
    EidCancelled,
    EidCardBlocked,
    EidCommunicationFailed,
    EidDocumentExpired,
    EidFailed,
    EidPersonalData,
    EidRequest,
    EidSession,
    EidSessionUnknown,
    EidWrongPin,
)
from servicekonto.eid import soap

TIMEOUT_SECONDS = 10.0
log = structlog.get_logger("servicekonto.eid.connector")

FAILURES: dict[str, Callable[[], EidFailed]] = {
    soap.MINOR_CANCELLED: EidCancelled,
    soap.MINOR_WRONG_PIN: EidWrongPin,
    soap.MINOR_PIN_BLOCKED: EidCardBlocked,
    soap.MINOR_EXPIRED: EidDocumentExpired,
    soap.MINOR_INVALID_SESSION: EidSessionUnknown,
    soap.MINOR_INVALID_COUNTER: EidSessionUnknown,
}


def failure(result: soap.Result) -> EidFailed:
    """The error of a result that is not ok; an unknown minor is a communication error, never success."""
    return FAILURES.get(result.minor or "", EidCommunicationFailed)()


class Tr03130EidServer:
    def __init__(self, *, url: str, client_cert: tuple[Path, Path] | None = None, ca_file: Path | None = None,
                 timeout: float = TIMEOUT_SECONDS) -> None:
        self._url = url
        self._client_cert = (str(client_cert[0]), str(client_cert[1])) if client_cert else None
        self._verify: str | bool = str(ca_file) if ca_file else True
        self._timeout = timeout

    def use_id(self, request: EidRequest) -> EidSession:
        body = self._call(soap.use_id_request(request), "useID")
        try:
            session, result = soap.read_use_id_response(body)
        except soap.SoapInvalid as exc:
            raise EidCommunicationFailed(f"useID: {exc}") from None
        if session is None:
            log.warning("useID refused", minor=result.minor)
            raise failure(result)
        return session

    def get_result(self, session_id: str, *, request_counter: int) -> EidPersonalData:
        body = self._call(soap.get_result_request(session_id, request_counter), "getResult")
        try:
            data, result = soap.read_get_result_response(body)
        except soap.SoapInvalid as exc:
            raise EidCommunicationFailed(f"getResult: {exc}") from None
        if data is None:
            raise failure(result)
        return data

    def _call(self, message: bytes, action: str) -> etree._Element:
        try:
            with httpx2.Client(timeout=self._timeout, verify=self._verify, cert=self._client_cert,
                               follow_redirects=False, trust_env=False) as client:
                response = client.post(self._url, content=message, headers={
                    "content-type": "text/xml; charset=utf-8", "soapaction": f'"{action}"'})
        except httpx2.HTTPError as exc:
            log.warning("eID server unreachable", action=action, reason=type(exc).__name__)
            raise EidCommunicationFailed(f"{action}: {type(exc).__name__}") from None
        if response.status_code != 200 or len(response.content) > soap.MAX_MESSAGE:
            log.warning("eID server error", action=action, status=response.status_code)
            raise EidCommunicationFailed(f"{action}: HTTP {response.status_code}")
        try:
            return soap.parse_body(response.content)
        except soap.SoapInvalid as exc:
            raise EidCommunicationFailed(f"{action}: {exc}") from None
