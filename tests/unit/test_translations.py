"""German is the default language and must be complete: every msgid in the code and the templates has a
German translation that is not fuzzy, and the placeholders agree."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from servicekonto.core import i18n

SOURCE = Path(i18n.__file__).resolve().parent.parent
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
METHOD_MAP = [("**/templates/**.html", "jinja2"), ("**/mail_templates/**", "jinja2"), ("**.py", "python")]
JINJA = {"extensions": "jinja2.ext.i18n", "trimmed": "false"}
OPTIONS = {"**/templates/**.html": JINJA, "**/mail_templates/**": JINJA}
PLACEHOLDER = re.compile(r"\{[a-z_]*\}|%\([a-z_]+\)s")


def extracted_msgids() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            SOURCE, METHOD_MAP, OPTIONS, keywords=KEYWORDS):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def german_catalog():  # type: ignore[no-untyped-def]
    with (SOURCE / "locale" / "de" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale="de")


def test_every_message_has_a_german_translation() -> None:
    catalog = german_catalog()
    missing = sorted(
        msgid for msgid in extracted_msgids()
        if not (entry := catalog.get(msgid)) or not entry.string or entry.fuzzy
    )
    assert not missing, "untranslated into German:\n" + "\n".join(missing)


def test_translations_keep_their_placeholders() -> None:
    for message in german_catalog():
        if message.id and message.string and isinstance(message.id, str):
            assert sorted(PLACEHOLDER.findall(message.id)) == sorted(PLACEHOLDER.findall(message.string)), message.id


def test_german_is_the_default_and_english_is_the_msgid() -> None:
    with i18n.use_locale("de"):
        assert i18n.gettext("Page not found") == "Seite nicht gefunden"
    with i18n.use_locale("en"):
        assert i18n.gettext("Page not found") == "Page not found"
    with i18n.use_locale("fr"):
        assert i18n.current_locale() == "de"


def test_accept_language_negotiation() -> None:
    assert i18n.negotiate(None) == "de"
    assert i18n.negotiate("en-US,en;q=0.9") == "en"
    assert i18n.negotiate("fr-FR, en;q=0.5, de;q=0.8") == "de"
    assert i18n.negotiate("fr") == "de"
    assert i18n.negotiate("en;q=0, de") == "de"
    assert i18n.negotiate("en;q=abc") == "de"
