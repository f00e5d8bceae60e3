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


def test_templates_translate_plain_strings_when_they_compile() -> None:
    """The folded text is what the call gives at render time, escaped the same way; `_()` with variables
    and anybody else's `_` method still run per render."""
    from servicekonto.web.templating import make_environment

    source = ('<a title="{{ _(\'Page not found\') }}">{{ _("Page not found") }}</a>|{{ _("a <b> & c") }}|'
              '{{ helper._("Page not found") }}|{{ _("Step %(n)s", n="<i>") }}')
    helper = type("Helper", (), {"_": staticmethod(lambda text: f"method:{text}")})()
    for locale, expected in (("de", "Seite nicht gefunden"), ("en", "Page not found")):
        env = make_environment(locale)
        with i18n.use_locale(locale):
            assert env.from_string(source).render(helper=helper) == (
                f'<a title="{expected}">{expected}</a>|a &lt;b&gt; &amp; c|method:Page not found|'
                f"{i18n.gettext('Step %(n)s') % {'n': '&lt;i&gt;'}}")
    compiled = make_environment("de").compile('<p>{{ _("Page not found") }}</p>', raw=True)
    assert "<p>Seite nicht gefunden</p>" in compiled and "Page not found" not in compiled  # fixed text, no call
