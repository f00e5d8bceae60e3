"""`python -m servicekonto.demo_portal [--host 127.0.0.1] [--port 8001]` serves the demo portal.

From the environment: DEMO_PORTAL_CREDENTIALS (default ./var/demo-portal.json, written by `servicekonto demo`),
DEMO_PORTAL_URL (default http://127.0.0.1:8001), DEMO_PORTAL_ISSUER (default: the issuer in the credentials,
else http://127.0.0.1:8000), DEMO_PORTAL_SESSION_SECRET (default: a new one at each start).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import uvicorn

from servicekonto.demo_portal.app import create_portal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m servicekonto.demo_portal",
                                     description="The demo portal of Musterstadt, a client of Servicekonto.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)

    path = Path(os.environ.get("DEMO_PORTAL_CREDENTIALS", "var/demo-portal.json"))
    base_url = os.environ.get("DEMO_PORTAL_URL", "http://127.0.0.1:8001").rstrip("/")
    try:
        credentials = json.loads(path.read_text(encoding="utf-8"))
        client_id, client_secret = str(credentials["client_id"]), str(credentials["client_secret"])
    except (OSError, ValueError, TypeError, KeyError):
        return stop(f"{path}: Zugangsdaten fehlen. Bitte zuerst `servicekonto demo` ausführen.",
                    f"{path}: credentials missing. Run `servicekonto demo` first.")
    if credentials.get("redirect_uri", f"{base_url}/callback") != f"{base_url}/callback":
        return stop(f"Das Portal ist für {credentials['redirect_uri']} registriert, nicht für {base_url}. Bitte "
                    f"`DEMO_PORTAL_URL={base_url} servicekonto demo` ausführen.",
                    f"The portal is registered for {credentials['redirect_uri']}, not for {base_url}. Run "
                    f"`DEMO_PORTAL_URL={base_url} servicekonto demo`.")
    issuer = os.environ.get("DEMO_PORTAL_ISSUER") or credentials.get("issuer") or "http://127.0.0.1:8000"
    app = create_portal(issuer, client_id, client_secret, base_url,
                        session_secret=os.environ.get("DEMO_PORTAL_SESSION_SECRET"))
    # No access log: the callback's query carries the authorization code.
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, server_header=False)
    return 0


def stop(german: str, english: str) -> int:
    print(f"{german}\n{english}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
