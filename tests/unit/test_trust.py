"""One enum owns every trust-level vocabulary (DESIGN.md §2)."""

from __future__ import annotations

from itertools import pairwise

import pytest

from servicekonto.domain.trust import TrustLevel, Vocabulary


@pytest.mark.parametrize(("name", "level", "vocabulary"), [
    ("STORK-QAA-Level-1", TrustLevel.BASIC, Vocabulary.STORK),
    ("STORK-QAA-Level-4", TrustLevel.HIGH, Vocabulary.STORK),
    ("http://eidas.europa.eu/LoA/substantial", TrustLevel.SUBSTANTIAL, Vocabulary.EIDAS),
    ("http://eidas.europa.eu/NotNotified/LoA/high", TrustLevel.HIGH, Vocabulary.EIDAS),
    ("http://eidas.europa.eu/LoA/NotNotified/low", TrustLevel.LOW, Vocabulary.EIDAS),
    ("http://bsi.bund.de/eID/LoA/hoch", TrustLevel.HIGH, Vocabulary.BSI),
    ("http://bsi.bund.de/eID/LoA/normal", TrustLevel.LOW, Vocabulary.BSI),
])
def test_every_vocabulary_parses(name: str, level: TrustLevel, vocabulary: Vocabulary) -> None:
    assert TrustLevel.parse(name) == (level, vocabulary)


def test_unknown_names_are_none() -> None:
    assert TrustLevel.parse("STORK-QAA-Level-5") is None
    assert TrustLevel.parse("") is None


def test_answers_in_the_vocabulary_asked_with_stork_as_fallback() -> None:
    assert TrustLevel.HIGH.name_in(Vocabulary.EIDAS) == "http://eidas.europa.eu/LoA/high"
    assert TrustLevel.BASIC.name_in(Vocabulary.EIDAS) == "STORK-QAA-Level-1"  # eIDAS has no level 1
    assert TrustLevel.SUBSTANTIAL.name_in(Vocabulary.BSI) == "http://bsi.bund.de/eID/LoA/substantiell"


def test_higher_satisfies_lower_and_session_limits_shrink() -> None:
    assert TrustLevel.HIGH.satisfies(TrustLevel.LOW) and not TrustLevel.BASIC.satisfies(TrustLevel.LOW)
    limits = [level.session_limits for level in TrustLevel]
    assert limits[0].absolute == 12 * 3600 and limits[0].idle == 3600
    assert limits[3].absolute == 1800 and limits[3].idle == 300
    assert all(a.idle >= b.idle for a, b in pairwise(limits))
