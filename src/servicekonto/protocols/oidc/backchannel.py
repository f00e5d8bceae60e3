"""OpenID Connect Back-Channel Logout 1.0: when a login session ends, every client that registered a
`backchannel_logout_uri` and holds a grant of that session gets a signed logout token, server to server.
Sent off the request path (a small pool of threads), bounded in time; a client that is down misses it and
is logged (without personal data) — its refresh tokens are revoked anyway."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import httpx2
import structlog

TIMEOUT_SECONDS = 5.0
EVENT = "http://schemas.openid.net/event/backchannel-logout"

log = structlog.get_logger("servicekonto.oidc.backchannel")


class BackchannelSender:
    def __init__(self, *, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backchannel-logout")

    def send(self, uri: str, logout_token: str, *, client_id: str) -> Future[bool]:
        return self._pool.submit(self._post, uri, logout_token, client_id)

    @staticmethod
    def _post(uri: str, logout_token: str, client_id: str) -> bool:
        """§2.5: POST `logout_token` form-encoded; 200 or 204 means done. No redirects are followed."""
        try:
            with httpx2.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client:
                response = client.post(uri, data={"logout_token": logout_token},
                                       headers={"Cache-Control": "no-store"})
        except httpx2.HTTPError as exc:
            log.warning("backchannel logout failed", client_id=client_id, reason=type(exc).__name__)
            return False
        if response.status_code not in (200, 204):
            log.warning("backchannel logout refused", client_id=client_id, status=response.status_code)
            return False
        return True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
