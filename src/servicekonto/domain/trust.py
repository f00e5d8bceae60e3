"""Trust levels (Vertrauensniveaus): one enum owns every vocabulary (DESIGN.md §2).

Requests may name a level as STORK QAA (BundID's wire value), eIDAS LoA URI or BSI eID-Server LoA URI;
answers use the vocabulary that was asked in, STORK by default. A higher level satisfies a lower one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Vocabulary(enum.StrEnum):
    STORK = "stork"
    EIDAS = "eidas"
    BSI = "bsi"


class TrustLevel(enum.IntEnum):
    BASIC = 1  # Basisregistrierung ("normal" in the Servicekonto.NRW brochure)
    LOW = 2  # niedrig
    SUBSTANTIAL = 3  # substanziell
    HIGH = 4  # hoch

    @property
    def stork(self) -> str:
        return f"STORK-QAA-Level-{int(self)}"

    @property
    def eidas(self) -> str | None:
        return _EIDAS.get(self)

    @property
    def bsi(self) -> str | None:
        return _BSI.get(self)

    @property
    def german(self) -> str:
        return _GERMAN[self]

    @property
    def attribute_trust_level(self) -> str:
        """The per-attribute value of `akdb:TrustLevel` (BundID's wire set, DESIGN.md §2)."""
        return _AKDB[self]

    def satisfies(self, required: TrustLevel) -> bool:
        return self >= required

    def name_in(self, vocabulary: Vocabulary) -> str:
        """This level in the given vocabulary; STORK where the vocabulary has no name for it."""
        if vocabulary is Vocabulary.EIDAS and self.eidas:
            return self.eidas
        if vocabulary is Vocabulary.BSI and self.bsi:
            return self.bsi
        return self.stork

    @classmethod
    def parse(cls, value: str) -> tuple[TrustLevel, Vocabulary] | None:
        """A level named in any vocabulary (with eIDAS' non-notified aliases); None when unknown."""
        return _BY_NAME.get(value.strip())

    @property
    def session_limits(self) -> SessionLimits:
        return DEFAULT_SESSION_LIMITS[self]


_EIDAS = {
    TrustLevel.LOW: "http://eidas.europa.eu/LoA/low",
    TrustLevel.SUBSTANTIAL: "http://eidas.europa.eu/LoA/substantial",
    TrustLevel.HIGH: "http://eidas.europa.eu/LoA/high",
}
_BSI = {
    TrustLevel.LOW: "http://bsi.bund.de/eID/LoA/normal",
    TrustLevel.SUBSTANTIAL: "http://bsi.bund.de/eID/LoA/substantiell",
    TrustLevel.HIGH: "http://bsi.bund.de/eID/LoA/hoch",
}
_GERMAN = {
    TrustLevel.BASIC: "Basisregistrierung",
    TrustLevel.LOW: "niedrig",
    TrustLevel.SUBSTANTIAL: "substanziell",
    TrustLevel.HIGH: "hoch",
}
_AKDB = {
    TrustLevel.BASIC: "UNTERGEORDNET",
    TrustLevel.LOW: "NORMAL",
    TrustLevel.SUBSTANTIAL: "SUBSTANTIELL",
    TrustLevel.HIGH: "HOCH",
}

_BY_NAME: dict[str, tuple[TrustLevel, Vocabulary]] = {}
for _level in TrustLevel:
    _BY_NAME[_level.stork] = (_level, Vocabulary.STORK)
    if _level in _EIDAS:
        word = _EIDAS[_level].rsplit("/", 1)[1]
        _BY_NAME[_EIDAS[_level]] = (_level, Vocabulary.EIDAS)
        _BY_NAME[f"http://eidas.europa.eu/NotNotified/LoA/{word}"] = (_level, Vocabulary.EIDAS)
        _BY_NAME[f"http://eidas.europa.eu/LoA/NotNotified/{word}"] = (_level, Vocabulary.EIDAS)
        _BY_NAME[_BSI[_level]] = (_level, Vocabulary.BSI)


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Absolute and idle lifetime of a session in seconds (TR-03160-1, via BundID FAQ 7.5.3)."""

    absolute: int
    idle: int


DEFAULT_SESSION_LIMITS = {
    TrustLevel.BASIC: SessionLimits(absolute=12 * 3600, idle=60 * 60),
    TrustLevel.LOW: SessionLimits(absolute=12 * 3600, idle=60 * 60),
    TrustLevel.SUBSTANTIAL: SessionLimits(absolute=2 * 3600, idle=30 * 60),
    TrustLevel.HIGH: SessionLimits(absolute=30 * 60, idle=5 * 60),
}
