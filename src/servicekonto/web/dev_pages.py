"""The local mail outbox of a test system (no SMTP_URL): read the mails the service sent, follow their
links. Absent (404) in production and whenever real SMTP is configured."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.web.components import components
from servicekonto.web.forms import Form, form_page

_NAME = re.compile(r"[0-9]{20}-[A-Za-z0-9_-]{6,16}\.eml")
_LINK = re.compile(r"https?://[^\s<>\"]+")
MAX_LISTED = 100


def _outbox(request: Request) -> Path:
    folder = components(request).services.get("outbox")
    if folder is None:
        raise HTTPException(404)
    return Path(folder)


def _read(path: Path) -> EmailMessage:
    with path.open("rb") as fh:
        message = BytesParser(policy=policy.default).parse(fh)
    assert isinstance(message, EmailMessage)
    return message


@form_page
def outbox(request: Request, form: Form) -> Response:
    folder = _outbox(request)
    files = sorted(folder.glob("*.eml"), reverse=True)[:MAX_LISTED] if folder.exists() else []
    mails = []
    for path in files:
        message = _read(path)
        mails.append({"name": path.name, "to": message["To"], "subject": message["Subject"], "date": message["Date"]})
    return components(request).templates.render(request, "dev/outbox.html", {"mails": mails})


@form_page
def outbox_mail(request: Request, form: Form) -> Response:
    folder = _outbox(request)
    name = request.path_params["name"]
    if not _NAME.fullmatch(name) or not (folder / name).is_file():
        raise HTTPException(404)
    message = _read(folder / name)
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    return components(request).templates.render(request, "dev/outbox_mail.html", {
        "mail": {"to": message["To"], "subject": message["Subject"], "date": message["Date"], "text": text,
                 "links": _LINK.findall(text)}})


routes = [
    Route("/entwicklung/postausgang", outbox, name="outbox"),
    Route("/entwicklung/postausgang/{name}", outbox_mail, name="outbox_mail"),
]
