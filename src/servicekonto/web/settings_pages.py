"""The citizen's own account: overview, master data, e-mail address, password, deletion."""

from __future__ import annotations

from functools import cache

import pycountry
from babel import Locale
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.core import i18n
from servicekonto.core.errors import InvalidInput
from servicekonto.domain.attributes import MASTER_DATA_KEYS, AttributeSource
from servicekonto.domain.eid import has_mailbox
from servicekonto.domain.flows import FlowKind, FlowState
from servicekonto.domain.normalise import GENDER_LABELS, Gender
from servicekonto.domain.organisations import LastAdminAccount, address_text
from servicekonto.domain.passwords import PasswordRejected
from servicekonto.services.accounts import PasswordsDiffer
from servicekonto.services.authentication import CredentialsInvalid
from servicekonto.services.throttle import LoginLocked
from servicekonto.web.feedback import Message, error_message, field_errors, notice
from servicekonto.web.forms import Form, form_page, values_without_secrets
from servicekonto.web.page_helpers import client_address, confirm_token_page, flow_for, redirect_to, render, service
from servicekonto.web.session_context import clear_session_cookie, require_account, set_session_cookie

FIELD_LABELS = {
    "academic_title": i18n._l("Academic title"), "given_name": i18n._l("Given names"),
    "family_name": i18n._l("Family name"), "birth_name": i18n._l("Birth name"),
    "birthdate": i18n._l("Date of birth"), "place_of_birth": i18n._l("Place of birth"),
    "nationality": i18n._l("Nationality"), "gender": i18n._l("Gender"),
    "street_address": i18n._l("Street and house number"), "postal_code": i18n._l("Postcode"),
    "locality": i18n._l("City"), "country": i18n._l("Country"), "phone": i18n._l("Phone"),
    "de_mail": i18n._l("De-Mail address"), "email": i18n._l("E-mail address"),
    "eid_pseudonym": i18n._l("Pseudonym of your ID card"),
    # acting for an organisation (issue #10)
    "org_pseudonym": i18n._l("Pseudonym of the organisation"), "org_name": i18n._l("Name of the organisation"),
    "org_address": i18n._l("Address of the organisation"), "org_legal_form": i18n._l("Legal form"),
    "org_register_type": i18n._l("Register type"), "org_register_court": i18n._l("Register court"),
    "org_register_number": i18n._l("Register number"),
    "org_street_address": i18n._l("Street and house number of the organisation"),
    "org_postal_code": i18n._l("Postcode of the organisation"), "org_locality": i18n._l("City of the organisation"),
    "org_country": i18n._l("Country of the organisation"), "org_roles": i18n._l("Your roles in the organisation"),
}
SOURCE_LABELS = {
    AttributeSource.SELF_DECLARED: i18n._l("entered by you"),
    AttributeSource.EMAIL_VERIFIED: i18n._l("confirmed by e-mail"),
    AttributeSource.EID: i18n._l("read from the ID card"),
    AttributeSource.EIDAS: i18n._l("from a European eID"),
    AttributeSource.OPERATOR: i18n._l("checked by the operator"),
}
LEVEL_LABELS = {1: i18n._l("basic registration"), 2: i18n._l("low"), 3: i18n._l("substantial"), 4: i18n._l("high")}


@cache
def countries(locale: str) -> list[tuple[str, str]]:
    names = Locale.parse(locale).territories
    found = [(c.alpha_2, names.get(c.alpha_2, c.name)) for c in pycountry.countries]
    return sorted(found, key=lambda item: (item[0] != "DE", item[1]))


@cache
def nationalities(locale: str) -> list[tuple[str, str]]:
    """The form sends ISO alpha-3 (D for Germany, as ICAO); the label is the country's name."""
    names = Locale.parse(locale).territories
    found = [("D" if c.alpha_2 == "DE" else c.alpha_3, names.get(c.alpha_2, c.name)) for c in pycountry.countries]
    return sorted(found, key=lambda item: (item[0] != "D", item[1]))


def display_value(key: str, value: str) -> str:
    if key == "gender":
        return str(GENDER_LABELS.get(Gender(value), value))
    if key in ("country", "org_country"):
        return dict(countries(i18n.current_locale())).get(value, value)
    if key == "org_address":
        return address_text(value)
    if key == "nationality":
        return dict(nationalities(i18n.current_locale())).get(value, value)
    return value


@form_page
def overview(request: Request, form: Form) -> Response:
    session, account = require_account(request)
    data = service(request, "accounts").overview(account)
    rows = [{"label": str(FIELD_LABELS[key]), "value": display_value(key, data.attributes[key].value),
             "source": str(SOURCE_LABELS[data.attributes[key].source]),
             "level": str(LEVEL_LABELS[int(data.attributes[key].trust_level)])}
            for key in MASTER_DATA_KEYS if key in data.attributes]
    from_card = any(a.source is AttributeSource.EID for a in data.attributes.values())
    return render(request, "account/overview.html", account=account, rows=rows,
                   session_level=str(LEVEL_LABELS[int(session.trust_level)]),
                   has_email=has_mailbox(account.email),
                   can_upgrade=service(request, "eid") is not None and not from_card,
                   notice=notice(request.query_params.get("hinweis")))


@form_page
def security(request: Request, form: Form) -> Response:
    _session, account = require_account(request)
    events = [{"iso": e.occurred_at.isoformat(), "when": e.occurred_at.strftime("%d.%m.%Y %H:%M"),
               "label": str(e.event.label)} for e in service(request, "accounts").security_events(account)]
    return render(request, "account/security.html", events=events)


@form_page
def master_data(request: Request, form: Form) -> Response:
    _session, account = require_account(request)
    locale = i18n.current_locale()
    context: dict[str, object] = {
        "countries": countries(locale), "nationalities": nationalities(locale),
        "genders": [(g.value, str(label)) for g, label in GENDER_LABELS.items()],
    }
    # Read from the ID card: shown read-only, changed only by reading the card again (issue #6).
    context["from_card"] = {a.key: display_value(a.key, a.value)
                            for a in service(request, "accounts").overview(account).attributes.values()
                            if a.source is AttributeSource.EID}
    if request.method == "GET":
        stored = service(request, "accounts").master_data(account)
        return render(request, "account/master_data.html", **context, values=stored,
                       notice=notice(request.query_params.get("hinweis")))
    try:
        changed = service(request, "accounts").update_master_data(account, form)
    except InvalidInput as exc:
        return render(request, "account/master_data.html", 400, **context, values=values_without_secrets(form),
                       errors=field_errors(exc, default_field="given_name"), notice=error_message(exc))
    return redirect_to("/konto/stammdaten", hinweis="master_data_saved" if changed else "nothing_changed")


@form_page
def change_password(request: Request, form: Form) -> Response:
    session, account = require_account(request)
    if request.method == "GET":
        return render(request, "account/password.html", account=account)
    try:
        epoch = service(request, "accounts").change_password(
            account, current=form.get("current_password", ""), new=form.get("new_password", ""),
            new_repeat=form.get("new_password_repeat", ""), address=client_address(request))
    except (CredentialsInvalid, LoginLocked, PasswordRejected, PasswordsDiffer) as exc:
        field = ("current_password" if isinstance(exc, CredentialsInvalid | LoginLocked)
                 else "new_password_repeat" if isinstance(exc, PasswordsDiffer) else "new_password")
        if isinstance(exc, CredentialsInvalid):
            errors = {field: Message(code=exc.code, kind="error",
                                     text=i18n.gettext("The current password is not correct."))}
        else:
            errors = field_errors(exc, default_field=field)
        return render(request, "account/password.html", 429 if isinstance(exc, LoginLocked) else 400,
                       account=account, errors=errors)
    renewed = service(request, "sessions").reissue(session, epoch=epoch)
    response = redirect_to("/konto", hinweis="password_changed")
    set_session_cookie(request, response, renewed)
    return response


@form_page
def change_email(request: Request, form: Form) -> Response:
    _session, account = require_account(request)
    if request.method == "GET":
        return render(request, "account/email.html", account=account, has_email=has_mailbox(account.email))
    try:
        service(request, "accounts").request_email_change(account, form.get("new_email", ""))
    except InvalidInput as exc:
        return render(request, "account/email.html", 400, account=account, values=values_without_secrets(form),
                       has_email=has_mailbox(account.email),
                       errors=field_errors(exc, default_field="new_email"))
    return redirect_to("/konto", hinweis="email_change_sent")


@form_page
def confirm_email(request: Request, form: Form) -> Response:
    accounts = service(request, "accounts")
    return confirm_token_page(
        request, form, check=accounts.check_email_change, use=accounts.confirm_email_change,
        done=redirect_to("/konto", hinweis="email_changed"),
        title=i18n.gettext("Confirm your new e-mail address"), button=i18n.gettext("Confirm new e-mail address"),
        text=i18n.gettext("Please confirm that this is your new e-mail address."),
        restart_link="/konto/e-mail", restart_text=i18n.gettext("Change the e-mail address again"))


@form_page
def delete(request: Request, form: Form) -> Response:
    _session, account = require_account(request)
    flow, expired = flow_for(request, FlowKind.DELETION)
    if request.method == "GET" or expired:
        return render(request, "account/delete.html", account=account, flow_id=flow.id, notice=expired)
    grants = service(request, "privacy").live_grants(account)  # read before the rows go with the account
    try:
        service(request, "accounts").delete(account, password=form.get("password", ""), address=client_address(request))
    except (CredentialsInvalid, LoginLocked) as exc:
        return render(request, "account/delete.html", 429 if isinstance(exc, LoginLocked) else 400,
                       account=account, flow_id=flow.id, errors={"password": error_message(exc)})
    except LastAdminAccount as exc:  # an organisation would be left without an administrator (issue #10)
        return render(request, "account/delete.html", exc.http_status, account=account, flow_id=flow.id,
                      notice=error_message(exc))
    service(request, "oidc").notify_logout(grants)  # portals that registered hear of it (issue #8)
    flows = service(request, "flows")
    flows.advance(flow, FlowState.DELETED)
    flows.finish(flow)
    response = redirect_to("/", hinweis="deleted")
    clear_session_cookie(request, response)
    return response


routes = [
    Route("/konto", overview, name="account"),
    Route("/konto/stammdaten", master_data, methods=["GET", "POST"], name="master_data"),
    Route("/konto/passwort", change_password, methods=["GET", "POST"], name="change_password"),
    Route("/konto/e-mail", change_email, methods=["GET", "POST"], name="change_email"),
    Route("/konto/e-mail/bestaetigen", confirm_email, methods=["GET", "POST"], name="confirm_email"),
    Route("/konto/sicherheit", security, name="security"),
    Route("/konto/loeschen", delete, methods=["GET", "POST"], name="delete_account"),
]
