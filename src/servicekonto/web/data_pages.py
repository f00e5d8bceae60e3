"""The citizen's data sovereignty pages (issue #8): what went where (transfer history), consents, sessions
and devices, and the export of everything stored. Plain forms: every page works without JavaScript."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.core import i18n
from servicekonto.domain.audit import AuditEvent
from servicekonto.domain.transfers import PAGE_SIZE, Transfer, TransferQuery
from servicekonto.web.feedback import Message
from servicekonto.web.forms import Form, form_page
from servicekonto.web.page_helpers import redirect_to, render, service
from servicekonto.web.session_context import require_account
from servicekonto.web.settings_pages import FIELD_LABELS, LEVEL_LABELS

METHOD_LABELS = {
    "pwd": i18n._l("password"), "totp": i18n._l("authenticator app"), "otp": i18n._l("recovery code"),
    "passkey": i18n._l("passkey"), "eid": i18n._l("ID card"),
}
PROTOCOL_LABELS = {"oidc": "OpenID Connect", "saml": "SAML"}
MAX_PAGE = 10_000


def attribute_label(key: str) -> str:
    return str(FIELD_LABELS.get(key, key))


def method_label(methods: tuple[str, ...] | list[str]) -> str:
    return ", ".join(str(METHOD_LABELS.get(m, m)) for m in methods)


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _page_number(value: str | None) -> int:
    return min(int(value), MAX_PAGE) if value and value.isdigit() and int(value) >= 1 else 1


def transfer_row(entry: Transfer) -> dict[str, object]:
    return {"iso": entry.occurred_at.isoformat(), "when": entry.occurred_at.strftime("%d.%m.%Y %H:%M"),
            "service_name": entry.service_name, "service_id": entry.service_id,
            "protocol": PROTOCOL_LABELS.get(entry.protocol, entry.protocol),
            "attributes": [attribute_label(k) for k in entry.attributes], "keys": list(entry.attributes),
            "level": str(LEVEL_LABELS[int(entry.trust_level)]), "methods": method_label(entry.methods)}


@form_page
def transfers(request: Request, form: Form) -> Response:
    """GET filter form (service, period from/to inclusive), newest first, paged."""
    _session, account = require_account(request)
    params = request.query_params
    since, until = _date(params.get("von")), _date(params.get("bis"))
    errors: dict[str, Message] = {}
    if since and until and until < since:
        errors["bis"] = Message(code="transfers.period_invalid", kind="error",
                                text=i18n.gettext("The end of the period is before its start."))
    page_number = _page_number(params.get("seite"))
    service_id = params.get("dienst", "")[:1024] or None
    query = TransferQuery(
        account_id=account.id, service_id=service_id,
        since=datetime.combine(since, time.min, UTC) if since else None,
        until=datetime.combine(until + timedelta(days=1), time.min, UTC) if until and not errors else None,
        offset=(page_number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    result = service(request, "transfers").page(query)
    filters = {k: v for k, v in {"dienst": service_id or "", "von": params.get("von", ""),
                                 "bis": params.get("bis", "")}.items() if v}
    link = "/konto/datenuebermittlungen?"
    values = {"dienst": service_id or "", "von": since.isoformat() if since else "",
              "bis": until.isoformat() if until else ""}
    return render(request, "account/transfers.html", rows=[transfer_row(e) for e in result.entries],
                  services=result.services, values=values,
                  errors=errors, page=page_number,
                  previous_link=link + urlencode({**filters, "seite": page_number - 1}) if page_number > 1 else None,
                  next_link=link + urlencode({**filters, "seite": page_number + 1}) if result.has_more else None)


NOTICES = {
    "consent_withdrawn": (i18n._l("The consent is withdrawn. The online service will ask again at your next login."),
                          "success"),
    "consent_missing": (i18n._l("There was no such consent (any more)."), "info"),
    "session_ended": (i18n._l("The session is ended. That browser is logged out."), "success"),
    "sessions_ended": (i18n._l("Every other session is ended."), "success"),
    "session_missing": (i18n._l("This session had ended already."), "info"),
    "device_notice_on": (i18n._l("You will get a mail when your account is used from a new device."), "success"),
    "device_notice_off": (i18n._l("You will get no mail about new devices."), "success"),
}


def page_notice(code: str | None) -> Message | None:
    if code and code in NOTICES:
        text, kind = NOTICES[code]
        return Message(code=f"notice.{code}", text=str(text), kind=kind)
    return None


@form_page
def consents(request: Request, form: Form) -> Response:
    _session, account = require_account(request)
    rows = [{"service_id": c.service_id, "service_name": c.service_name,
             "protocol": PROTOCOL_LABELS.get(c.protocol, ""), "attributes": [attribute_label(k) for k in c.attributes],
             "keys": list(c.attributes), "iso": c.granted_at.isoformat(),
             "when": c.granted_at.strftime("%d.%m.%Y %H:%M")} for c in service(request, "privacy").consents(account)]
    return render(request, "account/consents.html", rows=rows, notice=page_notice(request.query_params.get("hinweis")))


@form_page
def withdraw_consent(request: Request, form: Form) -> Response:
    """POST: withdraw; an OIDC client's grants end and, where registered, it hears so by back-channel logout."""
    _session, account = require_account(request)
    found, grants = service(request, "privacy").withdraw_consent(account, form.get("service_id", "")[:1024])
    if grants:
        service(request, "oidc").notify_logout(grants)
    return redirect_to("/konto/einwilligungen", hinweis="consent_withdrawn" if found else "consent_missing")


def _when(timestamp: float) -> tuple[str, str]:
    """Approximate on purpose (to the quarter hour): enough to recognise a login."""
    moment = datetime.fromtimestamp(timestamp - timestamp % 900, UTC)
    return moment.isoformat(), moment.strftime("%d.%m.%Y %H:%M")


@form_page
def sessions(request: Request, form: Form) -> Response:
    session, account = require_account(request)
    store = service(request, "sessions")
    current = store.handle(session.id)
    rows = []
    for info in store.of_account(account):
        (started_iso, started), (seen_iso, seen) = _when(info.created_at), _when(info.last_seen)
        rows.append({"handle": info.handle, "device": info.device or "?", "methods": method_label(info.methods),
                     "level": str(LEVEL_LABELS[int(info.trust_level)]), "started_iso": started_iso, "started": started,
                     "seen_iso": seen_iso, "seen": seen, "current": info.handle == current})
    privacy = service(request, "privacy")
    devices = [{"label": d.label, "first_iso": d.first_seen_at.isoformat(),
                "first": d.first_seen_at.strftime("%d.%m.%Y"), "last_iso": d.last_seen_at.isoformat(),
                "last": d.last_seen_at.strftime("%d.%m.%Y")} for d in privacy.devices(account)]
    return render(request, "account/sessions.html", rows=rows, others=sum(1 for r in rows if not r["current"]),
                  devices=devices, device_notice=privacy.new_device_notice(account),
                  notice=page_notice(request.query_params.get("hinweis")))


@form_page
def device_notice(request: Request, form: Form) -> Response:
    """POST: the optional mail after a login from an unknown device, on or off (default off)."""
    _session, account = require_account(request)
    enabled = form.get("device_notice") == "on"
    service(request, "privacy").set_new_device_notice(account, enabled)
    return redirect_to("/konto/sitzungen", hinweis="device_notice_on" if enabled else "device_notice_off")


def _log_out(request: Request, account_id: str, sid: str) -> None:
    if sid:
        service(request, "oidc").logout_session(sid)  # that login's OIDC grants end; clients are told
    service(request, "auditor").record(AuditEvent.SESSION_ENDED, account_id=account_id)


@form_page
def end_session(request: Request, form: Form) -> Response:
    """POST: end one other session, or (`alle`) every other one; this browser stays logged in."""
    session, account = require_account(request)
    store = service(request, "sessions")
    current = store.handle(session.id)
    wanted = [i.handle for i in store.of_account(account) if i.handle != current] if form.get("scope") == "others" \
        else [form.get("handle", "")[:64]]
    ended = 0
    for handle in wanted:
        if handle == current:
            continue
        info = store.end_of_account(account, handle)
        if info is not None:
            _log_out(request, account.id, info.sid)
            ended += 1
    code = "sessions_ended" if form.get("scope") == "others" else "session_ended" if ended else "session_missing"
    return redirect_to("/konto/sitzungen", hinweis=code)


SECTION_LABELS = {
    "accounts": i18n._l("Account"), "account_attributes": i18n._l("Master data"),
    "second_factors": i18n._l("Second factors"), "recovery_codes": i18n._l("Recovery codes (unused)"),
    "eid_cards": i18n._l("Linked ID cards"), "passkeys": i18n._l("Passkeys"), "consents": i18n._l("Consents"),
    "oidc_grants": i18n._l("Authorisations of online services (OpenID Connect)"),
    "oidc_refresh_tokens": i18n._l("Refresh tokens of these authorisations"),
    "transfers": i18n._l("Data transfers"), "audit_events": i18n._l("Security events"),
    "known_devices": i18n._l("Known devices"), "account_preferences": i18n._l("Settings"),
}


def _export(request: Request) -> dict[str, object]:
    _session, account = require_account(request)
    live = [{"device": i.device, "methods": list(i.methods), "trust_level": int(i.trust_level),
             "created_at": datetime.fromtimestamp(i.created_at, UTC).isoformat(),
             "last_seen": datetime.fromtimestamp(i.last_seen, UTC).isoformat()}
            for i in service(request, "sessions").of_account(account)]
    return service(request, "privacy").export(account, sessions=live)  # type: ignore[no-any-return]


@form_page
def export_page(request: Request, form: Form) -> Response:
    """The readable view of the export (GDPR Art. 15); the JSON download beside it (Art. 20)."""
    data = _export(request)
    tables = data["tables"]
    assert isinstance(tables, dict)
    sections = [{"name": name, "label": str(SECTION_LABELS.get(name, name)), "rows": rows}
                for name, rows in tables.items() if name != "withheld"]
    return render(request, "account/export.html", sections=sections, sessions=data["sessions"],
                  withheld=tables.get("withheld", []), generated_at=data["generated_at"])


@form_page
def export_json(request: Request, form: Form) -> Response:
    data = _export(request)
    body = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False).encode()
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="servicekonto-export-{stamp}.json"',
        "Cache-Control": "no-store"})


routes = [
    Route("/konto/datenuebermittlungen", transfers, name="transfers"),
    Route("/konto/einwilligungen", consents, name="consents"),
    Route("/konto/einwilligungen/widerrufen", withdraw_consent, methods=["POST"], name="withdraw_consent"),
    Route("/konto/sitzungen", sessions, name="sessions"),
    Route("/konto/export", export_page, name="export"),
    Route("/konto/export.json", export_json, name="export_json"),
    Route("/konto/sitzungen/beenden", end_session, methods=["POST"], name="end_session"),
    Route("/konto/sitzungen/benachrichtigung", device_notice, methods=["POST"], name="device_notice"),
]
