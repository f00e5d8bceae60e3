"""Fetching a document a tenant named by URL (SAML metadata, a client's JWKS) without letting the URL reach
into our own network (server-side request forgery, OWASP ASVS 12.6.1): https only, every address the host
resolves to must be public, bounded in time, size and redirects — each redirect is checked the same way.

The test system is exempt from the address rule (its portals run on 127.0.0.1); it alone also allows http
on the loopback interface. The address check resolves the name before the connection resolves it again; a
name that changes its answer in between (DNS rebinding) is not caught — the time and size limits still hold.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx2

from servicekonto.domain.clients import ClientInvalid

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TIMEOUT_SECONDS = 10.0
MAX_REDIRECTS = 3

Resolver = Callable[[str], list[str]]


def _resolve(host: str) -> list[str]:
    try:
        return [str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]
    except (socket.gaierror, UnicodeError):
        return []


def non_public_reason(url: str, *, test_system: bool, resolve: Resolver = _resolve) -> str | None:
    """Why `url` may not be fetched, or None when it may."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        _port = parts.port
    except ValueError:
        return "the URL is not valid"
    if not host or parts.username is not None or parts.password is not None:
        return "the URL needs a host (and no user name or password)"
    loopback = host in LOOPBACK_HOSTS
    if not (parts.scheme == "https" or (parts.scheme == "http" and loopback and test_system)):
        return "the URL must be an https URL" + (" (or http on 127.0.0.1/localhost)" if test_system else "")
    if test_system:
        return None
    addresses = [host] if _is_ip(host) else resolve(host)
    if not addresses:
        return f"the host {host[:100]!r} cannot be resolved"
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not ip.is_global or ip.is_multicast:
            return f"the host {host[:100]!r} is not on the public internet (private, loopback or link-local)"
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return True


def fetch_limited(url: str, *, test_system: bool, accept: str, max_bytes: int, refused: Callable[[str], Exception],
                  unavailable: Callable[[str], Exception], timeout: float = TIMEOUT_SECONDS,
                  resolve: Resolver = _resolve) -> bytes:
    """GET `url` under the rules above; a broken rule raises `refused(reason)`, a failed or oversized fetch
    `unavailable(reason)`."""
    def check(target: str) -> None:
        reason = non_public_reason(target, test_system=test_system, resolve=resolve)
        if reason is not None:
            raise refused(reason)

    check(url)

    def _check_request(request: httpx2.Request) -> None:
        check(str(request.url))

    try:
        with (httpx2.Client(timeout=timeout, follow_redirects=True, max_redirects=MAX_REDIRECTS,
                            event_hooks={"request": [_check_request]}, trust_env=False) as client,
              client.stream("GET", url, headers={"accept": accept}) as response):
            if response.status_code != 200:
                raise unavailable(f"{url[:200]} answered HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise unavailable(f"the document is larger than {max_bytes} bytes")
            return bytes(body)
    except (httpx2.HTTPError, httpx2.InvalidURL, ValueError) as exc:
        raise unavailable(f"{url[:200]}: {type(exc).__name__} {str(exc)[:200]}".strip()) from None


MAX_JWKS_BYTES = 64 * 1024


def fetch_jwks(url: str, *, test_system: bool, resolve: Resolver = _resolve) -> str:
    """A client's JWKS for private_key_jwt (RFC 7591 `jwks_uri`); whether it is a key set is the caller's
    check (services/oidc_clients.py)."""
    def invalid(reason: str) -> Exception:
        return ClientInvalid(f"jwks_uri: {reason}")

    data = fetch_limited(url, test_system=test_system, accept="application/jwk-set+json, application/json",
                         max_bytes=MAX_JWKS_BYTES, refused=invalid, unavailable=invalid, resolve=resolve)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("the key set is not UTF-8") from None
