"""The synthetic world's lexicon: the package data file parses into a consistent taxonomy, and a non-editable
install carries that file (it is not a Python module, so setuptools ships it only when declared)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import numpy as np

from omnisage.synth.lexicon import CONNECTORS, LANGUAGES, load_lexicon

ROOT = Path(__file__).resolve().parents[2]


def test_every_concept_has_words_in_every_language_and_a_unique_id():
    lx = load_lexicon()
    concepts = [*lx.tops, *lx.subs, *lx.leaves, *lx.attributes, *lx.generic, *lx.filler, *lx.noisy_boards]
    assert all(set(c.words) == set(LANGUAGES) and all(c.words.values()) for c in concepts)
    for level in (lx.tops, lx.subs, lx.leaves, lx.attributes):
        assert len({c.id for c in level}) == len(level)
    assert all(0 <= s.parent < len(lx.tops) for s in lx.subs)
    assert all(0 <= leaf.parent < len(lx.subs) for leaf in lx.leaves)
    assert set(CONNECTORS) == set(LANGUAGES)


def test_lexicon_words_differ_across_languages():
    lx = load_lexicon()
    for lang in LANGUAGES[1:]:
        differs = np.mean([leaf.words["en"][0].lower() != leaf.words[lang][0].lower() for leaf in lx.leaves])
        assert differs > 0.75, lang
    assert len(lx.tops) == 20 and 250 < len(lx.leaves) < 500


def test_the_lexicon_file_is_declared_package_data():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["omnisage"]
    assert any(fnmatch.fnmatch("synth/lexicon.toml", p) for p in patterns), patterns
